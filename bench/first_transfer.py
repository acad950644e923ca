"""A Dagster run is a fresh process: our handler's first transfer in one, and its warm ones, against s5cmd.

    .venv/bin/python bench/first_transfer.py --runs 5 [--workloads large,medium,small] [--small-count 1000]

Starts its own SeaweedFS (data on disk) and writes the sources to tmpfs (``/dev/shm``). Per round, interleaved:
s5cmd in a new process (its process wall time: it has no state to warm), then ``ours`` (the default ``crt``
engine) and ``ours-classic``, each in a new process that imports everything first (not timed), then opens a
handler with the defaults and times the open and the first transfer together (**first**: what a run meets),
then two more transfers on the same handler (**warm**: their median). Uploads are the lake's writes (SSE,
conditional: ``overwrite=False`` to a fresh prefix, the existence check included); s5cmd uploads with SSE too.
Downloads are checked byte for byte. Reports medians and the ratio s5cmd / ours (at least 1.0: ours is as fast).
Results go to ``--out`` (default ``bench/results/first-transfer.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from transfer import BIN, BUCKET, SCRATCH, make_sources  # noqa: E402  (bench/ is not a package)

ENGINES = {"ours": "crt", "ours-classic": "classic"}


def worker(engine: str, direction: str, source: str, prefix: str, target: str) -> None:
    """In a fresh process: the open and first transfer, then two warm ones; print the times as JSON."""
    from lake_assets.s3 import S3Handler, S3ObjectRef, S3TransferConfig

    config = S3TransferConfig(endpoint_url=os.environ["AWS_ENDPOINT_URL"], region="us-east-1",
                              access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                              secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"], addressing_style="path",
                              show_progress=False, engine=engine)  # type: ignore[arg-type]
    files = sorted(Path(source).iterdir())
    times = []
    began = time.perf_counter()
    with S3Handler(config) as s3:
        for attempt in range(3):
            if direction == "up":
                refs = [S3ObjectRef(f"{prefix}-{attempt}/{path.name}", path) for path in files]
                result = s3.upload_batch(BUCKET, refs)
            else:
                folder = Path(target) / str(attempt)
                refs = [S3ObjectRef(f"{prefix}/{path.name}", folder / path.name) for path in files]
                result = s3.download_batch(BUCKET, refs)
            times.append(time.perf_counter() - began)
            if result.failures or len(result.done) != len(files):
                raise SystemExit(f"{engine} {direction}: {result.failures[:3]}")
            began = time.perf_counter()
    print(json.dumps({"first": times[0], "warm": statistics.median(times[1:])}))


def s5cmd(direction: str, source: Path, prefix: str, target: Path, endpoint: str, env: dict[str, str]) -> float:
    """s5cmd's wall time for one transfer, in a new process."""
    target.mkdir(parents=True, exist_ok=True)
    remote = f"s3://{BUCKET}/{prefix}/"
    copy = ["cp", "--sse", "AES256", f"{source}/*", remote] if direction == "up" else ["cp", f"{remote}*", f"{target}/"]
    began = time.perf_counter()
    subprocess.run([str(BIN / "s5cmd"), "--endpoint-url", endpoint, *copy], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def ours(client: str, direction: str, source: Path, prefix: str, target: Path, env: dict[str, str]) -> dict[str, float]:
    """Our handler's first and warm times, from a fresh process."""
    out = subprocess.run([sys.executable, __file__, "--worker", ENGINES[client], direction, str(source), prefix,
                          str(target)], env=env, check=True, capture_output=True, text=True).stdout
    times: dict[str, float] = json.loads(out.strip().rsplit("\n", 1)[-1])
    return times


def check_download(source: Path, target: Path) -> None:
    """Every downloaded file equals its source."""
    for path in source.iterdir():
        for copy in [target / path.name, *(target / str(n) / path.name for n in range(3))]:
            if copy.exists() and copy.read_bytes() != path.read_bytes():
                raise SystemExit(f"{copy} differs from {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workloads", default="large,medium,small")
    parser.add_argument("--small-count", type=int, default=1000)
    parser.add_argument("--directions", default="up,down")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "first-transfer.json")
    args = parser.parse_args()
    from lake_assets.local_s3 import EmbeddedS3, free_ports

    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(dir="/var/tmp") as home:
        server = EmbeddedS3(Path(home) / "s3", free_ports())
        server.start()
        try:
            server.ensure_buckets(BUCKET)
            keys = server.credentials()
            env = {**os.environ, "AWS_ACCESS_KEY_ID": keys.access_key_id, "AWS_REGION": "us-east-1",
                   "AWS_SECRET_ACCESS_KEY": keys.secret_access_key, "AWS_ENDPOINT_URL": server.endpoint_url}
            for workload in args.workloads.split(","):
                source = make_sources(workload, args.small_count if workload == "small" else 1)
                s5cmd("up", source, f"{workload}/seed", SCRATCH, server.endpoint_url, env)
                for run in range(args.runs):
                    for client in ("s5cmd", *ENGINES):
                        for direction in args.directions.split(","):
                            prefix = f"{workload}/{client}-{run}-{direction}" if direction == "up" else f"{workload}/seed"
                            target = SCRATCH / "down" / f"{client}-{run}"
                            if client == "s5cmd":
                                seconds = s5cmd(direction, source, prefix, target, server.endpoint_url, env)
                                times = {"first": seconds, "warm": seconds}
                            else:
                                times = ours(client, direction, source, prefix, target, env)
                            if direction == "down":
                                check_download(source, target)
                            shutil.rmtree(target, ignore_errors=True)
                            rows.append({"workload": workload, "client": client, "direction": direction,
                                         "run": run, **times})
                    args.out.write_text(json.dumps(rows, indent=1))
        finally:
            server.stop()
    report(rows, args)


def report(rows: list[dict[str, object]], args: argparse.Namespace) -> None:
    """Print a markdown table of medians and ratios."""
    print(f"`.venv/bin/python bench/first_transfer.py --runs {args.runs} --workloads {args.workloads} "
          f"--small-count {args.small_count} --directions {args.directions}`\n")
    print("| workload | direction | s5cmd s | ours first s | ours warm s | classic first s | classic warm s "
          "| s5cmd / ours first | s5cmd / ours warm | s5cmd / classic first |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for workload in args.workloads.split(","):
        for direction in args.directions.split(","):
            def median(client: str, key: str) -> float:
                return statistics.median(float(str(row[key])) for row in rows if row["workload"] == workload
                                         and row["client"] == client and row["direction"] == direction)
            peer = median("s5cmd", "first")
            first, warm = median("ours", "first"), median("ours", "warm")
            classic_first, classic_warm = median("ours-classic", "first"), median("ours-classic", "warm")
            print(f"| {workload} | {direction} | {peer:.3f} | {first:.3f} | {warm:.3f} | {classic_first:.3f} | "
                  f"{classic_warm:.3f} | {peer / first:.2f} | {peer / warm:.2f} | {peer / classic_first:.2f} |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:7])
    else:
        main()
