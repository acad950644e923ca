"""Transfer benchmark: our handler against its peers, side by side, on the embedded SeaweedFS.

    .venv/bin/python bench/transfer.py --runs 5 [--workloads small,medium,large] [--clients ...]

Starts its own SeaweedFS for each workload (data under ``--server-dir``, on disk: the volumes of
six clients times six rounds outgrow tmpfs), writes the source files to tmpfs (``/dev/shm``),
then runs each client once to warm up and ``--runs`` times measured, interleaved (run 1 of every
client, then run 2, ...), each on a fresh prefix that is deleted after its download is checked. Per run it records wall time,
client CPU seconds (the client's process tree, from ``wait4``), server CPU seconds, and requests
by type (from the server's Prometheus counters). Downloads are checked: every file, every byte.
Results go to ``--out`` (default ``bench/results/transfer-<stamp>.json``), rewritten after every
round so an interrupted run keeps what it measured; ``bench/report.py`` turns them into tables.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from lake_assets.local_s3 import EmbeddedS3, free_ports

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
SCRATCH = Path("/dev/shm/lake-bench")
BUCKET = "bench"
KiB, MiB, GiB = 1024, 1024 ** 2, 1024 ** 3
#: name -> (object count, object size)
WORKLOADS = {"small": (10_000, 64 * KiB), "medium": (100, 8 * MiB), "large": (1, GiB),
             "multipart": (40, 24 * MiB)}
PYTHON_CLIENTS = ("ours", "ours-classic", "ours-overwrite", "ours-unclaimed", "boto3-loop", "transfer-manager",
                  "metaflow")
CLI_CLIENTS = ("s5cmd", "awscli")
DEFAULT_CLIENTS = ("ours", "s5cmd", "transfer-manager", "metaflow", "awscli", "boto3-loop")


def make_sources(workload: str, count: int) -> Path:
    """Write ``count`` random files of the workload's size under tmpfs, once."""
    _, size = WORKLOADS[workload]
    folder = SCRATCH / "src" / f"{workload}-{count}"
    if folder.is_dir() and len(list(folder.iterdir())) == count:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for index in range(count):
        with open(folder / f"obj-{index:06d}.bin", "wb") as handle:
            for _ in range(0, size, 64 * MiB):
                handle.write(os.urandom(min(size, 64 * MiB)))
    return folder


def command(client: str, direction: str, local: Path, prefix: str, concurrency: int, endpoint: str) -> list[str]:
    """The command line that moves ``local`` to ``s3://bench/<prefix>/`` (up) or back (down)."""
    remote = f"s3://{BUCKET}/{prefix}/"
    if client == "s5cmd":
        workers = ["--numworkers", str(concurrency)] if concurrency else []
        copy = ["cp", "--sse", "AES256", f"{local}/*", remote] if direction == "up" else ["cp", f"{remote}*", f"{local}/"]
        return [str(BIN / "s5cmd"), "--endpoint-url", endpoint, *workers, *copy]
    if client == "awscli":
        pair = [str(local), remote, "--sse", "AES256"] if direction == "up" else [remote, str(local)]
        return [str(BIN / "aws"), "--endpoint-url", endpoint, "s3", "cp", "--recursive", "--quiet", *pair]
    return [sys.executable, str(HERE / "clients.py"), client, direction, str(local), BUCKET, prefix, str(concurrency)]


def server_cpu(pid: int) -> float:
    """CPU seconds the server process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request_counts(metrics_port: int) -> dict[str, float]:
    """The server's S3 request counters by type."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("SeaweedFS_s3_request_total{"):
            labels, value = line.rsplit(" ", 1)
            kind = labels.split('type="', 1)[1].split('"', 1)[0]
            counts[kind] = counts.get(kind, 0) + float(value)
    return counts


def run_once(client: str, direction: str, local: Path, prefix: str, concurrency: int, server: EmbeddedS3,
             env: dict[str, str], metrics_port: int, pid: int) -> dict[str, object]:
    """Run one transfer and measure it."""
    before_requests, before_cpu = request_counts(metrics_port), server_cpu(pid)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(command(client, direction, local, prefix, concurrency, server.endpoint_url),
                                   env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = status
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if status != 0:
        raise RuntimeError(f"{client} {direction} failed ({status}): {stderr[-2000:]}")
    after = request_counts(metrics_port)
    requests = {kind: int(after.get(kind, 0) - before_requests.get(kind, 0)) for kind in after}
    last_line = stdout.strip().rsplit("\n", 1)[-1]
    transfer = json.loads(last_line)["transfer"] if client in PYTHON_CLIENTS else wall
    return {"wall": wall, "transfer": transfer, "client_cpu": usage.ru_utime + usage.ru_stime,
            "server_cpu": server_cpu(pid) - before_cpu,
            "requests": {kind: count for kind, count in requests.items() if count}}


def delete_prefix(server: EmbeddedS3, prefix: str) -> None:
    """Delete a round's objects, so the server's volumes do not grow run after run."""
    from lake_assets.s3 import S3Handler

    with S3Handler(server.transfer_config(show_progress=False)) as s3:
        s3.delete_objects(BUCKET, [info.key for info in s3.iter_objects(BUCKET, f"{prefix}/")])


def check_download(source: Path, target: Path) -> None:
    """Every source file arrived, byte for byte."""
    names = sorted(path.name for path in source.iterdir())
    got = sorted(path.name for path in target.iterdir())
    if names != got:
        raise RuntimeError(f"download to {target}: {len(got)} files, expected {len(names)}")
    for name in names:
        if (source / name).read_bytes() != (target / name).read_bytes():
            raise RuntimeError(f"download to {target}: {name} differs")


def bench_workload(workload: str, count: int, clients: list[tuple[str, int]], runs: int, server: EmbeddedS3,
                   env: dict[str, str], metrics_port: int, pid: int, results: list[dict[str, object]],
                   save: Callable[[], None]) -> None:
    """Warm up, then ``runs`` interleaved rounds of up and down for every client; save after each."""
    source = make_sources(workload, count)
    for round_ in range(runs + 1):
        for client, concurrency in clients:
            label = f"{client}@{concurrency}" if concurrency else client
            prefix = f"{workload}/{label}/{round_}-{time.time_ns()}"
            target = SCRATCH / "dst" / prefix
            target.mkdir(parents=True)
            up = run_once(client, "up", source, prefix, concurrency, server, env, metrics_port, pid)
            down = run_once(client, "down", target, prefix, concurrency, server, env, metrics_port, pid)
            check_download(source, target)
            shutil.rmtree(target)
            delete_prefix(server, prefix)
            row = {"workload": workload, "objects": count, "client": label, "round": round_,
                   "warmup": round_ == 0, "up": up, "down": down}
            results.append(row)
            save()
            print(f"{workload:6} {label:22} round {round_}: up {up['wall']:7.2f} s  down {down['wall']:7.2f} s",
                  file=sys.stderr, flush=True)


def parse_clients(spec: str) -> list[tuple[str, int]]:
    """``ours,s5cmd@64`` -> [("ours", 0), ("s5cmd", 64)]; 0 means the client's default concurrency."""
    clients: list[tuple[str, int]] = []
    for item in spec.split(","):
        name, _, concurrency = item.partition("@")
        if name not in PYTHON_CLIENTS + CLI_CLIENTS:
            raise SystemExit(f"unknown client {name!r}")
        clients.append((name, int(concurrency or 0)))
    return clients


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workloads", default="small,medium,large")
    parser.add_argument("--clients", default=",".join(DEFAULT_CLIENTS))
    parser.add_argument("--small-count", type=int, default=WORKLOADS["small"][0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--server-dir", type=Path, default=Path("/var/tmp/lake-bench-s3"))
    args = parser.parse_args()
    # A killed run must still stop its server (the finally below), or it keeps a core busy.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    clients = parse_clients(args.clients)
    shutil.rmtree(SCRATCH / "dst", ignore_errors=True)
    results: list[dict[str, object]] = []
    out = args.out or HERE / "results" / f"transfer-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        out.write_text(json.dumps({"command": " ".join(sys.argv), "cpus": os.cpu_count(), "results": results},
                                  indent=1))
    for workload in args.workloads.split(","):
        count = args.small_count if workload == "small" else WORKLOADS[workload][0]
        shutil.rmtree(args.server_dir, ignore_errors=True)
        metrics_port = free_ports().s3
        server = EmbeddedS3(args.server_dir, free_ports(), memory_limit="4GiB", metrics_port=metrics_port)
        server.start()
        try:
            server.ensure_buckets(BUCKET)
            keys = server.credentials("admin")
            env = {**os.environ, "AWS_ACCESS_KEY_ID": keys.access_key_id,
                   "AWS_SECRET_ACCESS_KEY": keys.secret_access_key, "AWS_ENDPOINT_URL": server.endpoint_url,
                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null",
                   "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
            pid = server.running_pid()
            assert pid is not None
            bench_workload(workload, count, clients, args.runs, server, env, metrics_port, pid, results, save)
        finally:
            server.stop()
            shutil.rmtree(args.server_dir, ignore_errors=True)
    summarize(results)
    print(f"wrote {out}", file=sys.stderr)


def summarize(results: list[dict[str, object]]) -> None:
    """Print medians per workload and client (warm-up excluded)."""
    groups: dict[tuple[str, str], list[dict[str, object]]] = {}
    for row in results:
        if not row["warmup"]:
            groups.setdefault((str(row["workload"]), str(row["client"])), []).append(row)
    for (workload, client), rows in groups.items():
        up = statistics.median(r["up"]["wall"] for r in rows)  # type: ignore[index]
        down = statistics.median(r["down"]["wall"] for r in rows)  # type: ignore[index]
        print(f"{workload:6} {client:22} up {up:7.2f} s  down {down:7.2f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
