"""Curating partitions of real size: time and peak memory of the curated step on minute-aggregate days.

    .venv/bin/python bench/large_partitions.py --runs 3 [--csv-mib 300 --days 31]

Generates ``--days`` trading days of Polygon-style *minute* aggregates (the ``day_aggs`` columns, one row
per ticker and minute, realistic random walks; about ``--csv-mib`` MiB of CSV, gzipped) and measures, each
figure in a fresh process of its own (as a Dagster run is), with its imports left out of the time:

1. **One file, locally**: curation's parse and checks (``parse_vendor_file`` to a local Parquet file,
   counting the checks' declared aggregates on the way as ``curate`` does, then every check, against the
   five earlier days) against polars' own ``read_csv`` + ``write_parquet`` of the
   same file: wall time and peak RSS above the process's RSS after its imports (``--runs``, median).
2. **Through the lake**, on a fresh embedded SeaweedFS with the raw files in the lake's raw zone: ``curate``
   of one partition (after its five earlier days), of every day one at a time, and of every day a few at
   a time as a range run does (``each_partition``, ``PARTITION_WORKERS`` threads); then the month's rollup
   (``roll_up_month``). Peak RSS of the process, and above its RSS after imports.

Prints Markdown tables; ``bench/RESULTS.md`` keeps the figures with this command.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from lake_assets.lake.calendars import publishing_days
from lake_assets.lake.datasets import DAY_AGGS

#: Minute aggregates have the day aggregates' columns, one row per ticker and minute of the session.
MINUTE_AGGS = replace(DAY_AGGS, name="minute_aggs")
MINUTES = 390  # 09:30 to 16:00 New York
BYTES_PER_ROW = 62  # of CSV, measured on the generator's output
DAYS = publishing_days("nyse", date(2024, 1, 2), date(2024, 3, 1))
BUCKET = "lake"


def minute_frame(day: date, tickers: int) -> pl.DataFrame:
    """One session of minute bars for ``tickers`` tickers: a random walk per ticker, seeded by ticker and day."""
    session = datetime(day.year, day.month, day.day, 9, 30, tzinfo=ZoneInfo("America/New_York"))
    first = int(session.astimezone(timezone.utc).timestamp()) * 1_000_000_000
    seed = day.toordinal()
    bars = pl.DataFrame({"t": pl.int_range(0, tickers, eager=True)}).join(
        pl.DataFrame({"m": pl.int_range(0, MINUTES, eager=True)}), how="cross").filter(
        pl.struct("t", "m").hash(seed + 3) % 10 != 0)  # about one minute in ten without a trade: no bar
    noise = (pl.struct("t", "m").hash(seed) % 20_001).cast(pl.Float64) / 1e6 - 0.01  # -1% .. +1% a minute
    base = 5 + (pl.col("t").hash(1) % 50_000).cast(pl.Float64) / 100
    return (bars.with_columns(step=noise).with_columns(level=(1 + pl.col("step")).cum_prod().over("t"))
            .with_columns(close=(base * pl.col("level")).round(4), open=(base * pl.col("level") / (1 + pl.col("step")))
                          .round(4))
            .with_columns(high=(pl.max_horizontal("open", "close") * 1.001).round(4),
                          low=(pl.min_horizontal("open", "close") * 0.999).round(4))
            .select(ticker=pl.format("T{}", pl.col("t")), volume=(pl.struct("m", "t").hash(seed + 1) % 90_000)
                    .cast(pl.Int64) + 100, open="open", close="close", high="high", low="low",
                    window_start=pl.lit(first) + pl.col("m") * 60_000_000_000,
                    transactions=(pl.struct("t", "m").hash(seed + 2) % 900).cast(pl.Int64) + 1))


def generate(work: Path, days: list[date], csv_mib: int) -> dict[date, Path]:
    """Write each day's vendor file (gzip level 6, as vendors ship them) once; return their paths."""
    tickers = max(1, csv_mib * 2**20 * 10 // (BYTES_PER_ROW * MINUTES * 9))
    files = {}
    for day in days:
        target = work / f"{day.isoformat()}.csv.gz"
        if not target.exists():
            csv = work / "day.csv"
            minute_frame(day, tickers).write_csv(csv)
            with csv.open("rb") as source, gzip.open(target.with_suffix(".partial"), "wb", compresslevel=6) as out:
                shutil.copyfileobj(source, out, 1 << 20)
            target.with_suffix(".partial").replace(target)
            csv.unlink()
        files[day] = target
    return files


def csv_size(path: Path) -> int:
    """The uncompressed size of a gzip file."""
    with gzip.open(path, "rb") as stream:
        return sum(len(chunk) for chunk in iter(lambda: stream.read(1 << 20), b""))


def _status_mib(field: str) -> float:
    """A figure of this process's memory from ``/proc/self/status``, in MiB (``VmHWM`` is the peak RSS since
    ``exec``; ``ru_maxrss`` would carry the parent's peak over)."""
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def _report(began: float, baseline: float, **extra: object) -> None:
    print(json.dumps({"seconds": time.perf_counter() - began, "peak_mib": _status_mib("VmHWM"),
                      "baseline_mib": baseline, **extra}))


def child(args: argparse.Namespace) -> None:
    """One measurement, in this fresh process."""
    from lake_assets.lake.checks import Subject, checks_for, declared_tallies
    from lake_assets.lake.curation import parse_vendor_file
    if args.child.startswith("lake"):
        from lake_assets.lake.history import History
        from lake_assets.lake.steps import CurateResult, Store, curate, roll_up_month
        from lake_assets.orchestration.assets import each_partition
        from lake_assets.s3 import S3Handler, S3TransferConfig
    baseline, began = _status_mib("VmRSS"), time.perf_counter()
    work = Path(args.work)
    if args.child == "polars":
        pl.read_csv(args.file, schema_overrides=MINUTE_AGGS.schema).write_parquet(
            work / "polars.parquet", compression="zstd", statistics=True)
        return _report(began, baseline)
    if args.child == "ours":
        history = [(date.fromisoformat(path.stem), pl.scan_parquet(path)) for path in sorted(work.glob("h/*.parquet"))]
        day = date.fromisoformat(Path(args.file).name[:10])
        vendor = parse_vendor_file(MINUTE_AGGS, Path(args.file), work / "ours.parquet", "bench",
                                   declared_tallies(MINUTE_AGGS, day))  # as curate does: the counts on the way
        parsed = time.perf_counter() - began
        subject = Subject(MINUTE_AGGS, day, vendor.scan(), vendor.extra_columns, history, vendor.tallies)
        checks = {}
        for check in checks_for(MINUTE_AGGS):
            start = time.perf_counter()
            checks[check.name] = (check.outcome(subject).passed, round(time.perf_counter() - start, 3))
        return _report(began, baseline, parse_seconds=parsed, checks=checks,
                       failed=[name for name, (passed, _) in checks.items() if not passed])
    config = S3TransferConfig(**json.loads(os.environ["BENCH_S3"]))
    with S3Handler(config) as handler, tempfile.TemporaryDirectory(dir=work) as scratch:
        store = Store(handler, BUCKET)
        if args.child == "lake-rollup":
            _, summary, days = roll_up_month(MINUTE_AGGS, 2024, 1, store, Path(scratch))
            return _report(began, baseline, rows=summary.height, days=days)
        days = [date.fromisoformat(day) for day in args.keys.split(",")]
        history = History(MINUTE_AGGS, store, Path(scratch))
        def work(key: str) -> CurateResult | None:
            return curate(MINUTE_AGGS, date.fromisoformat(key), store, history)

        keys = [day.isoformat() for day in days]
        results = (each_partition(keys, work) if args.child == "lake-range"  # PARTITION_WORKERS at a time
                   else [pair for key in keys for pair in each_partition([key], work)])
        errors = [str(result) for _, result in results if isinstance(result, Exception)]
        failed = sorted({o.name for _, result in results if not isinstance(result, Exception) and result
                         for o in result.outcomes if not o.passed})
        return _report(began, baseline, errors=errors, failed=failed,
                       kept_files=len(list(Path(scratch).glob("history/*"))))


def run_child(*arguments: str, env: dict[str, str] | None = None) -> dict[str, object]:
    """Run one measurement in a fresh process; return what it reported."""
    out = subprocess.run([sys.executable, __file__, *arguments], capture_output=True, text=True,
                         env=env or dict(os.environ))
    if out.returncode:
        sys.exit(f"{' '.join(arguments)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def local_figures(files: dict[date, Path], work: Path, runs: int) -> tuple[dict[str, list[dict]], int]:
    """Curation's parse and checks against polars' read and write, on the sixth day, ``runs`` times each."""
    days = sorted(files)[:6]
    (work / "h").mkdir(exist_ok=True)
    for day in days[:5]:
        if not (work / "h" / f"{day.isoformat()}.parquet").exists():
            run_child("--child", "ours", "--file", str(files[day]), "--work", str(work))
            (work / "ours.parquet").replace(work / "h" / f"{day.isoformat()}.parquet")
    figures: dict[str, list[dict]] = {"polars": [], "ours": []}
    for _ in range(runs):
        for name in figures:
            figures[name].append(run_child("--child", name, "--file", str(files[days[5]]), "--work", str(work)))
    return figures, csv_size(files[days[5]])


def lake_figures(files: dict[date, Path], work: Path) -> list[tuple[str, dict]]:
    """Curate through a fresh embedded SeaweedFS: one day, every day one at a time and a few at a time, rollup."""
    from lake_assets.local_s3.server import EmbeddedS3
    from lake_assets.s3 import S3Handler, S3ObjectRef
    server = EmbeddedS3(work / "s3")
    server.start()
    try:
        server.ensure_buckets(BUCKET)
        config = server.transfer_config(show_progress=False)
        with S3Handler(config) as s3:
            s3.upload_batch(BUCKET, [S3ObjectRef(MINUTE_AGGS.raw.key(day), path) for day, path in files.items()],
                            overwrite=True).raise_first_failure()
        env = {**os.environ, "BENCH_S3": json.dumps({
            "endpoint_url": config.endpoint_url, "region": config.region, "access_key_id": config.access_key_id,
            "secret_access_key": config.secret_access_key, "addressing_style": "path", "show_progress": False})}
        days = sorted(files)
        rows = []
        for label, mode, chosen in [("5 days, one at a time (history for the next)", "lake-serial", days[:5]),
                                    ("1 partition (5 earlier days in the lake)", "lake-serial", days[5:6]),
                                    (f"{len(days)} partitions, one at a time", "lake-serial", days),
                                    (f"{len(days)} partitions, 4 at a time (a range run)", "lake-range", days)]:
            rows.append((label, run_child("--child", mode, "--work", str(work),
                                          "--keys", ",".join(d.isoformat() for d in chosen), env=env)))
        january = [day for day in days if day.month == 1]
        rows.append((f"rollup of January ({len(january)} days)", run_child("--child", "lake-rollup", "--work",
                                                                           str(work), env=env)))
        return rows
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="measurements of each local figure (median)")
    parser.add_argument("--csv-mib", type=int, default=300, help="CSV size of one day, MiB")
    parser.add_argument("--days", type=int, default=21, help="trading days generated (January 2024 has 21)")
    parser.add_argument("--work", default="/tmp/lake-bench-partitions", help="where files and the server live")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--keys", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.child:
        return child(args)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "s3", ignore_errors=True)
    files = generate(work, DAYS[:args.days], args.csv_mib)
    local, csv_bytes = local_figures(files, work, args.runs)
    csv_mib = csv_bytes / 2**20
    print(f"One day: {csv_mib:.0f} MiB of CSV, {files[DAYS[5]].stat().st_size / 2**20:.0f} MiB gzipped\n")
    print("| step (one file, local) | wall s (median) | peak RSS MiB | above imports MiB | x CSV |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, label in [("polars", "polars read_csv + write_parquet"), ("ours", "parse_vendor_file + every check")]:
        seconds = statistics.median(f["seconds"] for f in local[name])
        peak = statistics.median(f["peak_mib"] for f in local[name])
        above = statistics.median(f["peak_mib"] - f["baseline_mib"] for f in local[name])
        print(f"| {label} | {seconds:.2f} | {peak:.0f} | {above:.0f} | {above / csv_mib:.2f} |")
    ratio = statistics.median(f["seconds"] for f in local["ours"]) / statistics.median(
        f["seconds"] for f in local["polars"])
    print(f"\nours / polars wall time: {ratio:.2f}; checks failed: {local['ours'][0]['failed']}; of ours, parsing "
          f"and counting {statistics.median(f['parse_seconds'] for f in local['ours']):.2f} s, each check (s, median): "
          + ", ".join(f"{name} {statistics.median(f['checks'][name][1] for f in local['ours']):.3f}"
                      for name in local["ours"][0]["checks"]) + "\n")
    print("| through the lake | wall s | s per partition | peak RSS MiB | above imports MiB | x CSV | notes |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for label, figure in lake_figures(files, work):
        count = int(label.split()[0]) if label[0].isdigit() else 1
        above = figure["peak_mib"] - figure["baseline_mib"]
        notes = {k: figure[k] for k in ("errors", "failed", "kept_files", "rows", "days") if figure.get(k)}
        print(f"| {label} | {figure['seconds']:.1f} | {figure['seconds'] / count:.2f} | {figure['peak_mib']:.0f} | "
              f"{above:.0f} | {above / csv_mib:.2f} | {notes or ''} |", flush=True)


if __name__ == "__main__":
    main()
