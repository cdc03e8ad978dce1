"""Encrypted Prism against plain Prism, both running at once, queries sent
to each in turn so that whatever else loads the machine slows both alike
(docs/ENCRYPTION.md, "What it costs").

    python bench/encrypted_side_by_side.py [--prism target/release/prism] [--n 20000]
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402  (the workload and server helpers)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prism", default="target/release/prism")
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--gets", type=int, default=200)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="prism-enc-side-"))
    w = compare.Workload(args.n, 384, args.queries)
    key = work / "prism.key"
    subprocess.run([args.prism, "key", "new", str(key)], check=True, capture_output=True)
    servers = {
        "encrypted": compare.Server("prism", args.prism, work, key),
        "plain": compare.Server("plain", args.prism, work),
    }
    cols = {}
    try:
        for name, server in servers.items():
            server.start()
            server.wait_heartbeat()
            col = server.client().create_collection("side-by-side", metadata={"hnsw:space": "l2"})
            compare.ingest(col, w)
            compare.wait_indexed(server, col)
            cols[name] = col
        for i in range(20):  # warm-up
            for col in cols.values():
                col.query(query_embeddings=w.queries[i:i + 1], n_results=10)
        queries = {k: [] for k in cols}
        gets = {k: [] for k in cols}
        order = list(cols.items())
        for i in range(len(w.queries)):
            for name, col in order if i % 2 else order[::-1]:
                started = time.perf_counter()
                col.query(query_embeddings=w.queries[i:i + 1], n_results=10)
                queries[name].append(time.perf_counter() - started)
        rng = np.random.default_rng(5)
        for _ in range(args.gets):
            ids = [w.ids[j] for j in rng.choice(w.n, 100, replace=False)]
            for name, col in order:
                started = time.perf_counter()
                col.get(ids=ids)
                gets[name].append(time.perf_counter() - started)
        p50 = {k: float(np.percentile(queries[k], 50)) * 1e3 for k in cols}
        g50 = {k: float(np.percentile(gets[k], 50)) * 1e3 for k in cols}
        for name in cols:
            print(f"{name:9} query p50 {p50[name]:.2f} ms, p95 {np.percentile(queries[name], 95) * 1e3:.2f} ms, "
                  f"get 100 ids p50 {g50[name]:.2f} ms, RSS {servers[name].rss_mb():.0f} MB")
        print(f"encrypted / plain: query p50 {p50['encrypted'] / p50['plain']:.2f}, "
              f"get p50 {g50['encrypted'] / g50['plain']:.2f}")
    finally:
        for server in servers.values():
            if server.proc is not None:
                server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
