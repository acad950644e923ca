"""Where a large download's time goes: our handler against the CRT writing the file itself, and s5cmd.

    .venv/bin/python bench/large_download.py --runs 5 [--objects 1 --size-mib 1024]
    .venv/bin/python bench/large_download.py --runs 5 --objects 100 --size-mib 8

Uploads ``--objects`` objects to a fresh embedded SeaweedFS (data on disk under ``--server-dir``),
then downloads them to tmpfs, each client in a process of its own: the first download in a new
process ("cold", as a Dagster run does it), then ``--runs`` more in the same process ("warm"), with
wall time, CPU seconds and minor page faults of the download alone (a Python client's imports are
not in them; s5cmd is a new process each time, so its figures include its start). The clients:

- ``ours``: ``S3Handler.download_objects``, the default CRT engine: a first range of each object,
  then, for an object larger than one part, one CRT download of the whole object into the file;
- ``crt-object``: one awscrt ``GET_OBJECT`` meta request per object with ``recv_filepath``, all in
  flight at once: the CRT alone, with none of the handler's guarantees;
- ``s5cmd``: ``s5cmd cp``, one process per download (so every run is cold).

Prints a Markdown table; ``bench/RESULTS.md`` keeps the figures with this command.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from awscrt import auth, http, io
from awscrt import s3 as crt_s3

from lake_assets.local_s3.server import EmbeddedS3
from lake_assets.s3 import S3Handler, S3ObjectRef, S3TransferConfig

BUCKET = "bench"
PREFIX = "large-download/"
CLIENTS = ("ours", "crt-object", "s5cmd")


def _config() -> S3TransferConfig:
    return S3TransferConfig(endpoint_url=os.environ["AWS_ENDPOINT_URL"], region="us-east-1",
                            access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                            secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"], addressing_style="path",
                            show_progress=False, max_in_flight=int(os.environ["BENCH_MAX_IN_FLIGHT"]))


def _keys(objects: int) -> list[str]:
    return [f"{PREFIX}{i:04d}.bin" for i in range(objects)]


def _ours(target: Path, keys: list[str]) -> Callable[[], None]:
    handler = S3Handler(_config()).__enter__()

    def download() -> None:
        refs = [S3ObjectRef(key, target / key.removeprefix(PREFIX)) for key in keys]
        _, _, failed = handler.download_objects(BUCKET, refs, overwrite=True)
        if failed:
            raise SystemExit(f"failed: {handler.failures}")
    return download


def _crt_object(target: Path, keys: list[str]) -> Callable[[], None]:
    config = _config()
    loops = io.EventLoopGroup()
    provider = auth.AwsCredentialsProvider.new_static(config.access_key_id, config.secret_access_key)
    client = crt_s3.S3Client(bootstrap=io.ClientBootstrap(loops, io.DefaultHostResolver(loops)),
                             region=config.region, part_size=config.multipart_chunksize,
                             signing_config=crt_s3.create_default_s3_signing_config(
                                 region=config.region, credential_provider=provider),
                             tls_mode=crt_s3.S3RequestTlsMode.DISABLED)
    host = config.endpoint_url.split("//", 1)[1]  # type: ignore[union-attr]

    def download() -> None:
        target.mkdir(exist_ok=True)
        requests = []
        for key in keys:
            request = http.HttpRequest("GET", f"/{BUCKET}/{key}", http.HttpHeaders([("Host", host)]))
            partial = target / f"{key.removeprefix(PREFIX)}.partial"
            requests.append((partial, client.make_request(type=crt_s3.S3RequestType.GET_OBJECT, request=request,
                                                          recv_filepath=str(partial))))
        for partial, pending in requests:
            pending.finished_future.result()
            os.replace(partial, partial.with_suffix(""))
    return download


def _s5cmd(target: Path, keys: list[str]) -> Callable[[], None]:
    s5cmd = str(Path(sys.executable).parent / "s5cmd")
    source = f"s3://{BUCKET}/{keys[0]}" if len(keys) == 1 else f"s3://{BUCKET}/{PREFIX}*"

    def download() -> None:
        subprocess.run([s5cmd, "--endpoint-url", os.environ["AWS_ENDPOINT_URL"], "cp", source, f"{target}/"],
                       check=True, stdout=subprocess.DEVNULL)
    return download


def _measure(download: Callable[[], None], target: Path, size: int, objects: int) -> dict[str, float]:
    """Time one download, with the CPU seconds and minor faults of this process and its children."""
    before, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    download()
    seconds = time.perf_counter() - began
    after, children_after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    files = sorted(target.iterdir())
    if len(files) != objects or any(path.stat().st_size != size for path in files):
        raise SystemExit(f"{target}: {[(path.name, path.stat().st_size) for path in files]}, "
                         f"expected {objects} of {size} bytes")
    for path in files:
        path.unlink()
    cpu = sum(getattr(after, f) - getattr(before, f) + getattr(children_after, f) - getattr(children, f)
              for f in ("ru_utime", "ru_stime"))
    return {"seconds": seconds, "cpu": cpu, "faults": float(after.ru_minflt - before.ru_minflt
                                                            + children_after.ru_minflt - children.ru_minflt)}


def child(client: str, runs: int, size: int, objects: int, target: Path) -> None:
    """Download in this process: once cold, then ``runs`` times warm; print the figures as JSON."""
    target.mkdir(exist_ok=True)
    download = {"ours": _ours, "crt-object": _crt_object, "s5cmd": _s5cmd}[client](target, _keys(objects))
    cold = _measure(download, target, size, objects)
    warm = [_measure(download, target, size, objects) for _ in range(runs)]
    json.dump({"cold": cold, "warm": {k: statistics.median(w[k] for w in warm) for k in cold}}, sys.stdout)
    sys.stdout.flush()
    os._exit(0)  # the handler and CRT client die with the process, as a Dagster run's do


def main() -> None:
    """Start the server, upload the object, run each client in its own process and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=1024, help="size of each object")
    parser.add_argument("--objects", type=int, default=1)
    parser.add_argument("--max-in-flight", type=int, default=S3TransferConfig.max_in_flight, help="ours only")
    parser.add_argument("--server-dir", type=Path, default=Path("/var/tmp/lake-bench-large-download"))
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--child", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--target", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = args.size_mib << 20
    if args.child:
        child(args.child, args.runs, size, args.objects, args.target)
        return
    server = EmbeddedS3(args.server_dir)
    server.start()
    try:
        server.ensure_buckets(BUCKET)
        keys = server.credentials()
        env = {**os.environ, "AWS_ENDPOINT_URL": server.endpoint_url, "AWS_ACCESS_KEY_ID": keys.access_key_id,
               "AWS_SECRET_ACCESS_KEY": keys.secret_access_key, "AWS_REGION": "us-east-1",
               "BENCH_MAX_IN_FLIGHT": str(args.max_in_flight)}
        with tempfile.TemporaryDirectory(dir="/dev/shm") as work:
            sources = Path(work) / "sources"
            sources.mkdir()
            for key in _keys(args.objects):
                with (sources / key.removeprefix(PREFIX)).open("wb") as out:
                    for _ in range(args.size_mib):
                        out.write(os.urandom(1 << 20))
            with S3Handler(server.transfer_config(show_progress=False)) as s3:
                s3.upload_objects(BUCKET, [S3ObjectRef(key, sources / key.removeprefix(PREFIX))
                                           for key in _keys(args.objects)], overwrite=True)
            shutil.rmtree(sources)
            print(f"{args.objects} × {args.size_mib} MiB, {args.runs} warm runs; "
                  "cold = the first download in a new process\n")
            print("| client | cold s | cold CPU s | cold faults | warm s | warm CPU s | warm faults |")
            print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
            for client in args.clients.split(","):
                out = subprocess.run([sys.executable, __file__, "--child", client, "--runs", str(args.runs),
                                      "--size-mib", str(args.size_mib), "--objects", str(args.objects),
                                      "--target", str(Path(work) / client)],
                                     env=env, check=True, capture_output=True, text=True).stdout
                result = json.loads(out)
                cold, warm = result["cold"], result["warm"]
                print(f"| {client} | {cold['seconds']:.2f} | {cold['cpu']:.2f} | {cold['faults']:.0f} | "
                      f"{warm['seconds']:.2f} | {warm['cpu']:.2f} | {warm['faults']:.0f} |")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
