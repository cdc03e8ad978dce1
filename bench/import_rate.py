"""How fast `prism import` and `prism export` move data, through the real path.

usage: python bench/import_rate.py [--n 100000] [--dim 384] [--collections 4]
           [--prism target/release/prism] [--chroma .venv/bin/chroma]
           [--out bench/results] [--smoke]

Fills a `chroma run` (the chromadb wheel's) with n records of `dim`
dimensions spread over `collections` collections in two tenants (metadata and
a document per record), then times, each from the start of the command to
its end (verification included):
  import from chroma   prism import --from URL --path DIR (a data directory)
  export               prism export --path DIR --out DUMP
  import from dump     prism import --file DUMP --path DIR2
  import into server   prism import --file DUMP --to URL (a running Prism)
and reports records/s of each, the dump's size, and writes
`<out>/import-<n>x<dim>.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("server not ready")


def timed(command: list, cwd: Path) -> tuple:
    started = time.monotonic()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return elapsed, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--collections", type=int, default=4)
    parser.add_argument("--prism", default=str(ROOT / "target/release/prism"))
    parser.add_argument("--chroma", default=str(Path(sys.executable).parent / "chroma"))
    parser.add_argument("--out", default=str(ROOT / "bench/results"))
    parser.add_argument("--smoke", action="store_true", help="2,000 x 16, to check the harness")
    args = parser.parse_args()
    if args.smoke:
        args.n, args.dim = 2_000, 16

    import chromadb

    work = Path(tempfile.mkdtemp(prefix="prism-import-bench-"))
    chroma_port = free_port()
    chroma = subprocess.Popen([args.chroma, "run", "--path", str(work / "chroma"), "--port", str(chroma_port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    servers = [chroma]
    try:
        wait_ready(chroma_port, chroma)
        admin = chromadb.AdminClient(chromadb.Settings(
            chroma_api_impl="chromadb.api.fastapi.FastAPI", chroma_server_host="127.0.0.1",
            chroma_server_http_port=chroma_port, anonymized_telemetry=False))
        admin.create_tenant("acme")
        admin.create_database("main", tenant="acme")
        rng = np.random.default_rng(7)
        per = args.n // args.collections
        fill_started = time.monotonic()
        for c in range(args.collections):
            tenant, database = ("default_tenant", "default_database") if c % 2 == 0 else ("acme", "main")
            client = chromadb.HttpClient(host="127.0.0.1", port=chroma_port, tenant=tenant, database=database)
            col = client.create_collection(f"collection-{c}", metadata={"i": c})
            for start in range(0, per, 5000):
                count = min(5000, per - start)
                col.add(ids=[f"{c}-{i}" for i in range(start, start + count)],
                        embeddings=rng.standard_normal((count, args.dim)).astype(np.float32),
                        documents=[f"document {i}" for i in range(start, start + count)],
                        metadatas=[{"n": i, "cat": f"k{i % 10}"} for i in range(start, start + count)])
        fill = time.monotonic() - fill_started
        total = per * args.collections
        print(f"chroma filled with {total} x {args.dim} in {fill:.1f}s", flush=True)

        url = f"http://127.0.0.1:{chroma_port}"
        results = {"n": total, "dim": args.dim, "collections": args.collections,
                   "chroma_fill_seconds": round(fill, 2)}
        steps = [
            ("import_from_chroma", [args.prism, "import", "--from", url, "--tenant", "default_tenant",
                                    "--tenant", "acme", "--path", str(work / "prism")]),
            ("export", [args.prism, "export", "--path", str(work / "prism"), "--out", str(work / "dump")]),
            ("import_from_dump", [args.prism, "import", "--file", str(work / "dump"), "--path", str(work / "prism2")]),
        ]
        for name, command in steps:
            seconds, summary = timed(command, work)
            results[name] = {"seconds": round(seconds, 2), "records_per_second": round(total / seconds)}
            print(f"{name}: {seconds:.1f}s, {total / seconds:.0f} records/s — {summary}", flush=True)
        prism_port = free_port()
        prism = subprocess.Popen([args.prism, "run", "--port", str(prism_port), "--path", str(work / "prism3")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        servers.append(prism)
        wait_ready(prism_port, prism)
        seconds, summary = timed([args.prism, "import", "--file", str(work / "dump"), "--to",
                                  f"http://127.0.0.1:{prism_port}"], work)
        results["import_into_server"] = {"seconds": round(seconds, 2), "records_per_second": round(total / seconds)}
        print(f"import_into_server: {seconds:.1f}s, {total / seconds:.0f} records/s — {summary}", flush=True)
        dump_bytes = sum(f.stat().st_size for f in (work / "dump").rglob("*") if f.is_file())
        results["dump_bytes"] = dump_bytes
        print(f"dump: {dump_bytes / 2**20:.1f} MiB", flush=True)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"import-{total}x{args.dim}.json"
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {path}")
    finally:
        for proc in servers:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
