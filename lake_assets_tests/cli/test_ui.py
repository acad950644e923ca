"""The Dagster UI end to end, driven as a user drives it: headless Chromium (Debian's, through
Playwright) against ``lake ui`` (``dagster dev``: webserver and daemon) and the embedded S3, all on
loopback. The tests run in file order, one journey: materialise a partition, backfill a range,
find the sensors and the schedule on by default and the sensor curating new days, then look at what
the asset page shows, then materialise an example asset built on the lake, and last see a curated object
deleted behind Dagster's back made again by the sensor's full pass. Each step leaves a
screenshot in ``test-artifacts/ui/``, with the UI's log beside them.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from playwright.sync_api import Page, sync_playwright

from lake_assets.cli.main_job import LAKE_BUCKET, VENDOR_BUCKET
from lake_assets.cli.sample import day_aggs_frame, gzip_csv, publish_sample
from lake_assets.lake.datasets import DAY_AGGS
from lake_assets.local_s3 import EmbeddedS3, free_ports
from lake_assets.orchestration.calendar_check import OFF_CALENDAR_CHECK
from lake_assets.orchestration.freshness import DUE_CHECK
from lake_assets.orchestration.sensors import FULL_INTERVAL_SECONDS, TICK_SECONDS
from lake_assets.orchestration.settings import resource_env
from lake_assets.s3 import S3Handler

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "ui"
#: Flags for a closed network: no background connections, no sandbox (CI runs as root), no GPU.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FIRST_DAYS = (date(2024, 1, 2), date(2024, 1, 5))  # published before the UI starts
LATER_DAYS = (date(2024, 1, 8), date(2024, 1, 10))  # published while it runs, for the sensor to find
RUN_TIMEOUT = 240.0


@dataclass
class Stack:
    """The embedded S3, the UI's address and its Dagster instance's directory."""

    server: EmbeddedS3
    url: str
    dagster_home: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _publish(server: EmbeddedS3, days: tuple[date, date]) -> None:
    with S3Handler(server.transfer_config(show_progress=False)) as vendor:
        publish_sample(vendor, VENDOR_BUCKET, [DAY_AGGS], *days)


def _etag(server: EmbeddedS3, bucket: str, key: str) -> str | None:
    """The ETag of ``key`` in ``bucket``, or None when there is no such object."""
    with S3Handler(server.transfer_config(show_progress=False)) as s3:
        info = s3.find(bucket, key)
        return info.etag if info else None


def _counts(page: Page) -> dict[str, int]:
    """The status counts a Partitions view shows (``Materialized (7)``, ``Passed (7)``, ``Failed (0)``...)."""
    return {name: int(count) for name, count in re.findall(r"(\w+) \((\d+)\)", page.locator("body").inner_text())}


def _wait_for_ui(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 180.0) -> None:
    """Wait until a Dagster webserver answers at ``url``; fail with its log if ``process`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            name = Path(str(process.args[0])).name
            pytest.fail(f"{name} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5):
                return
        except OSError:
            time.sleep(1)
    pytest.fail(f"the UI did not answer at {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """``lake ui`` on free loopback ports, with its own lake home and Dagster instance."""
    root = tmp_path_factory.mktemp("ui")
    dagster_home = root / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", dagster_home / "dagster.yaml")
    server = EmbeddedS3(root / "lake" / "s3", free_ports())
    server.start()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "dagster-dev.log"
    process: subprocess.Popen[bytes] | None = None
    try:
        server.ensure_buckets(VENDOR_BUCKET, LAKE_BUCKET)
        _publish(server, FIRST_DAYS)
        port = _free_port()
        lake = str(Path(sys.executable).parent / "lake")
        with log.open("wb") as out:
            process = subprocess.Popen(
                [lake, "--home", str(root / "lake"), "--port", str(server.ports.s3), "--dagster-home",
                 str(dagster_home), "ui", "--ui-port", str(port)],
                cwd=REPO, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        _wait_for_ui(url, process, log)
        yield Stack(server, url, dagster_home)
    finally:
        if process is not None:
            _stop_group(process)
        server.stop()


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop ``dagster dev`` and everything it started (webserver, daemon, code server, runs)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def page(stack: Stack) -> Iterator[Page]:
    """A headless Chromium page; the first-visit community dialog is marked as seen."""
    executable = Path(os.environ.get("LAKE_CHROMIUM", "/usr/bin/chromium"))
    if not executable.exists():
        pytest.fail(f"no Chromium at {executable}: `make test` installs Debian's chromium (as root), "
                    "or set LAKE_CHROMIUM to one")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=stack.url)
        context.add_init_script("window.localStorage.setItem('communityNux', JSON.stringify('1'))")
        page = context.new_page()
        page.set_default_timeout(30_000)
        try:
            yield page
        finally:
            browser.close()


def shot(page: Page, name: str) -> None:
    """Save a screenshot of the page as ``test-artifacts/ui/<name>.png``."""
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _poll(page: Page, path: str, read: Callable[[Page], str | None], what: str) -> str:
    """Reload ``path`` until ``read`` returns a value; return it, or fail with a screenshot."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        value = read(page)
        if value is not None:
            return value
        time.sleep(3)
    shot(page, f"timeout-{what}")
    pytest.fail(f"{what}: nothing after {RUN_TIMEOUT:.0f} s (screenshot timeout-{what}.png)")


def _status_after(label: str, page: Page) -> str:
    """The text shown right after ``label`` on a page of label/value pairs (run and backfill headers)."""
    lines = [line.strip() for line in page.locator("body").inner_text().splitlines() if line.strip()]
    after = lines.index(label) + 1 if label in lines else len(lines)
    return lines[after] if after < len(lines) else ""  # a page still loading shows the label alone


def _run_status(page: Page) -> str | None:
    """A run page's status once the run has ended (its header: ``Runs / <id> / <status>``)."""
    run_id = page.url.rstrip("/").rsplit("/", 1)[1][:8]
    status = _status_after(run_id, page)
    return status if status in ("Success", "Failure", "Canceled") else None


def _backfill_status(page: Page) -> str | None:
    status = _status_after("Status", page)
    return None if status in ("", "In progress", "Requested") else status


def _launch_from_graph(page: Page, partitions: str, button: str, name: str) -> str:
    """Select raw and curated in the group's graph, pick ``partitions``, launch; return the new page's link."""
    page.goto("/locations/lake_assets/asset-groups/day_aggs")
    page.get_by_text("raw", exact=True).first.click()
    page.get_by_text("curated", exact=True).first.click(modifiers=["Shift"])
    page.get_by_role("button", name="Materialize selected (2)…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Show all partitions").click()
    selection = dialog.locator("input").first
    selection.fill(partitions)
    selection.press("Enter")
    shot(page, name)
    dialog.get_by_role("button", name=button).click()
    link = page.get_by_role("link", name="View", exact=True).first
    link.wait_for()
    href = link.get_attribute("href")
    assert href, "the launch toast has no link"
    return href


def _check_partitions(page: Page, check: str) -> dict[str, int]:
    """Open the curated asset's check ``check`` on its Partitions tab; return the counts it shows."""
    page.goto(f"/assets/day_aggs/curated?view=checks&checkDetail={check}")
    tabs = page.get_by_text("Execution history", exact=True).locator(  # the check's tabs, not the asset's
        "xpath=ancestor::*[.//*[normalize-space(text())='Partitions']][1]")
    tabs.get_by_text("Partitions", exact=True).click()
    page.get_by_text(re.compile("Passed")).last.wait_for()
    return _counts(page)


def _pick_partition(page: Page, key: str) -> None:
    """Filter the Partitions tab's list down to ``key`` and open it (the list is newest first, virtual)."""
    page.get_by_placeholder("Filter by name").fill(key)
    page.get_by_text(key, exact=True).filter(visible=True).last.click()


def _curated_or_missing(server: EmbeddedS3, first: date, last: date) -> dict[str, str | None]:
    """Each published day's curated key in ``[first, last]`` and its server-side encryption (None if absent)."""
    with S3Handler(server.transfer_config(show_progress=False)) as lake:
        published = {info.key for info in lake.iter_objects(VENDOR_BUCKET, DAY_AGGS.source.static_prefix)}
        days = [day for day in (date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1))
                if DAY_AGGS.source.key(day) in published]
        found = {day: lake.find(LAKE_BUCKET, DAY_AGGS.curated.key(day)) for day in days}
        return {DAY_AGGS.curated.key(day): info.server_side_encryption if info else None
                for day, info in found.items()}


def test_materialise_a_partition_then_backfill_a_range(stack: Stack, page: Page) -> None:
    page.goto("/asset-groups")
    page.get_by_text("day_aggs").first.wait_for()
    page.goto("/locations/lake_assets/asset-groups/day_aggs")
    page.get_by_text("curated", exact=True).first.wait_for()
    shot(page, "01-asset-graph")

    page.goto("/assets/day_aggs/curated")
    page.get_by_text("Typed, checked Parquet").wait_for()
    assert page.get_by_text("data-platform").first.is_visible()
    shot(page, "02-curated-asset")

    run = _launch_from_graph(page, "2024-01-02", "Launch 1 run", "03-launch-one-partition")
    assert _poll(page, run, _run_status, "one-partition-run") == "Success"
    shot(page, "04-run-succeeded")

    backfill = _launch_from_graph(page, "[2024-01-03...2024-01-05]", "Launch backfill", "05-launch-backfill")
    assert "/runs/b/" in backfill
    assert _poll(page, backfill, _backfill_status, "backfill") in ("Succeeded", "Completed")
    shot(page, "06-backfill-done")

    objects = _curated_or_missing(stack.server, *FIRST_DAYS)
    assert len(objects) == 4 and set(objects.values()) == {"AES256"}, objects


def test_sensors_and_schedule_are_on_by_default_and_curate_new_days(stack: Stack, page: Page) -> None:
    for kind, name in (("sensors", "day_aggs_missing_partitions"), ("sensors", "day_aggs_rollups"),
                       ("sensors", "day_aggs_freshness"), ("sensors", "lake_automation"),
                       ("schedules", "day_aggs_due")):
        page.goto(f"/locations/lake_assets/{kind}/{name}")
        page.get_by_role("checkbox").first.wait_for(state="attached")
        assert page.get_by_role("checkbox").first.is_checked(), f"{name} is not on by default"
    page.goto("/automation")
    page.get_by_text("day_aggs_due").wait_for()
    shot(page, "07-automation-on")

    _publish(stack.server, LATER_DAYS)
    sensor = "/locations/lake_assets/sensors/day_aggs_missing_partitions"
    requested = _poll(page, sensor, lambda p: next((line.strip() for line in p.locator("body").inner_text().splitlines()
                                                    if re.fullmatch(r"[1-9]\d* runs? requested", line.strip())),
                                                   None), "sensor-tick")
    assert requested == "1 run requested"  # contiguous days as one range run
    shot(page, "08-sensor-tick")

    deadline = time.monotonic() + RUN_TIMEOUT
    while (objects := _curated_or_missing(stack.server, *LATER_DAYS)) and None in objects.values():
        assert time.monotonic() < deadline, f"the sensor did not curate {LATER_DAYS}: {objects}"
        time.sleep(3)
    assert len(objects) == 3 and set(objects.values()) == {"AES256"}, objects


def test_asset_page_shows_partition_metadata_and_checks(page: Page) -> None:
    page.goto("/assets/day_aggs/curated?view=partitions")
    _pick_partition(page, "2024-01-02")
    page.get_by_text("dagster/uri").first.wait_for()
    body = page.locator("body").inner_text()
    assert "s3://lake/curated/dataset=day_aggs/year=2024/month=01/day=02/data.parquet" in body
    shot(page, "09-partition-metadata")
    _pick_partition(page, "2024-01-04")  # from a range run: still that partition's own figures
    page.get_by_text("source_etag").first.wait_for()
    assert "s3://lake/curated/dataset=day_aggs/year=2024/month=01/day=04/data.parquet" in \
        page.locator("body").inner_text()

    page.goto("/assets/day_aggs/curated?view=events")
    page.get_by_text("2024-01-10").first.wait_for()
    shot(page, "10-events")

    page.goto("/assets/day_aggs/curated?view=checks")
    for check in ("structure", "values", "drift"):
        page.get_by_text(check, exact=True).first.wait_for()
    shot(page, "11-checks")


def test_each_check_counts_every_curated_day_as_passed(stack: Stack, page: Page) -> None:
    """Days checked by the one-day run, the backfill's range run and the sensor's range run all count: each
    check's Partitions view says Passed for as many days as S3 holds curated."""
    curated = {**_curated_or_missing(stack.server, *FIRST_DAYS), **_curated_or_missing(stack.server, *LATER_DAYS)}
    assert None not in curated.values()
    for check in ("structure", "values", "drift"):
        counts = _check_partitions(page, check)
        shot(page, f"13-check-partitions-{check}")
        assert (counts["Passed"], counts["Failed"]) == (len(curated), 0), check


def test_a_quarantined_correction_shows_the_day_materialized_with_its_warning(stack: Stack, page: Page) -> None:
    """The vendor replaces a curated day with a file that fails a blocking check: the run materialising it from
    the graph succeeds, the lake keeps the good day, and the UI shows the day Materialized with a failed WARN
    `drift` naming the quarantine and the reason, its other checks passed."""
    day, key = date(2024, 1, 3), "2024-01-03"
    served = _etag(stack.server, LAKE_BUCKET, DAY_AGGS.curated.key(day))
    bad = gzip_csv(day_aggs_frame(day).with_columns(pl.col("low") * 10))
    with S3Handler(stack.server.transfer_config(show_progress=False)) as vendor:
        vendor.put_bytes(VENDOR_BUCKET, DAY_AGGS.source.key(day), bad, overwrite=True)
    run = _launch_from_graph(page, key, "Launch 1 run", "16-launch-correction")
    assert _poll(page, run, _run_status, "correction-run") == "Success"
    assert _etag(stack.server, LAKE_BUCKET, DAY_AGGS.curated.key(day)) == served  # the good day, served
    assert _etag(stack.server, LAKE_BUCKET, DAY_AGGS.quarantine.key(day)) is not None

    page.goto("/assets/day_aggs/curated?view=partitions")
    _pick_partition(page, key)
    page.get_by_text("quarantine", exact=True).first.wait_for()
    body = page.locator("body").inner_text()
    assert "Materialized" in body and "ohlc_consistent" in body and "waits in quarantine" in body
    curated = _curated_or_missing(stack.server, *FIRST_DAYS) | _curated_or_missing(stack.server, *LATER_DAYS)
    counts = _counts(page)
    assert (counts["Materialized"], counts["Failed"]) == (len(curated), 0)
    shot(page, "17-quarantined-day")

    page.goto("/assets/day_aggs/curated?view=checks&checkDetail=drift")
    page.get_by_text("waits in quarantine").first.wait_for()  # the latest execution's detail
    shot(page, "18-quarantine-warning")
    for check, failed in (("drift", 1), ("structure", 0), ("values", 0)):
        counts = _check_partitions(page, check)
        assert (counts["Passed"], counts["Failed"]) == (len(curated) - failed, failed), check


def test_a_failed_manual_run_is_recorded_again_by_the_sensor(stack: Stack, page: Page, tmp_path: Path) -> None:
    """`dagster asset materialize` with a wrong lake secret fails a day S3 holds curated: within two sensor ticks
    the UI shows it Materialized again ("recorded again"), no partition Failed, no check Failed for it."""
    key = "2024-01-04"
    config = stack.server.transfer_config(show_progress=False)
    env = {**os.environ, "DAGSTER_HOME": str(stack.dagster_home),
           **resource_env("VENDOR_S3", VENDOR_BUCKET, config), **resource_env("LAKE_S3", LAKE_BUCKET, config),
           "LAKE_S3_SECRET_ACCESS_KEY": "not-the-secret"}
    dagster = str(Path(sys.executable).parent / "dagster")
    failed = subprocess.run([dagster, "asset", "materialize", "-m", "lake_assets.definitions", "--select",
                             "day_aggs/raw,day_aggs/curated", "--partition", key], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert failed.returncode != 0, failed.stdout[-2000:]
    curated = _curated_or_missing(stack.server, *FIRST_DAYS) | _curated_or_missing(stack.server, *LATER_DAYS)

    def reconciled(page: Page) -> str | None:
        counts = _counts(page)
        return "yes" if (counts.get("Materialized"), counts.get("Failed")) == (len(curated), 0) else None

    began = time.monotonic()
    _poll(page, "/assets/day_aggs/curated?view=partitions", reconciled, "recorded-again")
    assert time.monotonic() - began < 2 * TICK_SECONDS + RUN_TIMEOUT / 4
    _pick_partition(page, key)
    page.get_by_text("recorded again: ").first.wait_for()
    shot(page, "19-recorded-again")
    for check in ("structure", "values"):
        counts = _check_partitions(page, check)
        assert (counts["Passed"], counts["Failed"]) == (len(curated), 0), check


def test_freshness_and_the_calendar_check_are_evaluated_after_the_runs(page: Page) -> None:
    """The freshness sensor runs the due and calendar checks after the sensor's and the UI's runs: the Checks tab
    shows each one's result (the sample's newest day is long past due: a WARN naming how far behind), not
    "Skipped" or "Not evaluated"."""
    def evaluated(page: Page) -> str | None:
        lines = [line.strip() for line in page.locator("body").inner_text().splitlines() if line.strip()]
        states = [lines[lines.index(name) + 1] for name in (DUE_CHECK, OFF_CALENDAR_CHECK) if name in lines]
        return "yes" if len(states) == 2 and not {"Skipped", "Not evaluated", "Queued", "In progress"} & set(
            states) else None

    _poll(page, "/assets/day_aggs/curated?view=checks", evaluated, "due-checks")
    _poll(page, f"/assets/day_aggs/curated?view=checks&checkDetail={DUE_CHECK}",
          lambda p: "yes" if "publishing day(s) behind" in p.locator("body").inner_text() else None, "due-detail")
    shot(page, "20-freshness-evaluated")


def test_row_counts_and_bytes_are_plotted(page: Page) -> None:
    page.goto("/assets/day_aggs/curated")
    page.get_by_role("button", name="Plots").click()
    page.get_by_role("button", name="Events").last.click()  # over time; the "Partitions" axis stays empty here
    for series in ("dagster/partition_row_count", "bytes"):
        page.get_by_text(series, exact=True).first.wait_for()
    assert page.locator("canvas").count() >= 2
    page.get_by_text("Metadata", exact=True).first.evaluate("heading => heading.scrollIntoView({block: 'start'})")
    shot(page, "12-plots")


def test_an_asset_built_on_the_lake_materialises_from_its_page(page: Page) -> None:
    """`analytics/daily_returns` is a module in `lake_assets/defs/analytics/` and nothing else: the UI lists it
    downstream of the curated zone and materialises a partition of it, reading two curated days."""
    page.goto("/assets/analytics/daily_returns")
    page.get_by_text("day_aggs / curated").first.wait_for()  # its upstream, in the lineage
    shot(page, "13-user-asset")
    page.get_by_text(re.compile(r"^Materialize")).first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Show all partitions").click()
    selection = dialog.locator("input").first
    selection.fill("2024-01-05")
    selection.press("Enter")
    shot(page, "14-launch-user-asset")
    dialog.get_by_role("button", name="Launch 1 run").click()
    link = page.get_by_role("link", name="View", exact=True).first
    link.wait_for()
    run = link.get_attribute("href")
    assert run, "the launch toast has no link"
    assert _poll(page, run, _run_status, "user-asset-run") == "Success"
    shot(page, "15-user-asset-run")


def test_a_deleted_curated_object_is_made_again_and_the_ui_counts_what_s3_holds(stack: Stack, page: Page) -> None:
    """A curated object deleted outside the lake: the missing-partition sensor's next full pass (every
    ``FULL_INTERVAL_SECONDS``) requests the day, its run makes it again from the vendor's file, and the curated
    asset's Materialized count and each check's Passed count equal S3's curated days again."""
    day = date(2024, 1, 9)  # curated by the sensor earlier in this journey
    key = DAY_AGGS.curated.key(day)
    assert _etag(stack.server, LAKE_BUCKET, key) is not None
    with S3Handler(stack.server.transfer_config(show_progress=False)) as lake:
        lake.delete_objects(LAKE_BUCKET, [key])
    deleted = time.monotonic()
    deadline = deleted + FULL_INTERVAL_SECONDS + 2 * TICK_SECONDS + RUN_TIMEOUT
    while _etag(stack.server, LAKE_BUCKET, key) is None:
        assert time.monotonic() < deadline, f"{key} was not made again within {deadline - deleted:.0f} s"
        time.sleep(5)
    curated = _curated_or_missing(stack.server, *FIRST_DAYS) | _curated_or_missing(stack.server, *LATER_DAYS)
    assert None not in curated.values()

    def counted(page: Page) -> str | None:
        counts = _counts(page)
        return "yes" if (counts.get("Materialized"), counts.get("Failed")) == (len(curated), 0) else None

    _poll(page, "/assets/day_aggs/curated?view=partitions", counted, "deleted-made-again")
    shot(page, "21-deleted-object-made-again")
    for check in ("structure", "values"):
        counts = _check_partitions(page, check)
        assert (counts["Passed"], counts["Failed"]) == (len(curated), 0), check
