"""What row-level security costs: a query under a row filter from
authorization (rbac `where: {owner: "${user}"}`) against the same `where`
sent by the client, through the real chromadb client, on one server.

usage: python bench/row_filter.py [--bin target/release/prism] [--n 100000]
           [--dim 384] [--owners 10] [--queries 300] [--workers 4]
           [--seconds 8] [--rounds 3] [--json out.json]

Records belong to `owners` users in turn (`owner: u0 .. u9`), so a user's
row filter leaves 1/owners of them. One data directory is ingested with auth
off, then served with token auth + rbac: user `u3` holds role `member`
(every record action, `where: {owner: "${user}"}`); user `admin` holds role
`admin` (no filter) and sends `where={"owner": "u3"}` itself. Both go through
the same plugins, so the difference is the row filter alone. Each round
measures, in alternating order, sequential query latency (p50, p99 of
`queries` n_results=10 queries) and throughput (`workers` client processes
for `seconds`). The target: row filter p50 <= 1.2x the client's where.
No waiting for background indexing: the server is restarted on the ingested
data and measured from its first answer, as a user would meet it.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import chromadb
import numpy as np
from chromadb.config import Settings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from auth_overhead import free_port, run_workers, start, stop  # noqa: E402

POLICY = """\
roles_mapping:
  admin:
    actions: ["*"]
  member:
    actions: [tenant:get_tenant, db:get_database, collection:get_collection, collection:get, collection:query, collection:count, collection:add]
    where: {owner: "${user}"}
users:
  - id: admin
    role: admin
    tokens: [admin-token]
  - id: u3
    role: member
    tokens: [u3-token]
"""

# (name, token, the where the client sends)
SUBJECTS = [
    ("row filter (u3, no where)", "u3-token", None),
    ("client where (admin, owner=u3)", "admin-token", {"owner": "u3"}),
]


def client(port, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return chromadb.HttpClient(host="127.0.0.1", port=port, headers=headers,
                               settings=Settings(anonymized_telemetry=False))


def ingest(binary, path, n, dim, owners, log):
    port = free_port()
    proc = start(binary, path, port, {}, log)
    try:
        col = client(port).create_collection("bench", metadata={"hnsw:space": "l2"})
        rng = np.random.default_rng(7)
        began = time.time()
        for lo in range(0, n, 5000):
            hi = min(n, lo + 5000)
            col.add(ids=[f"r{i}" for i in range(lo, hi)],
                    embeddings=rng.normal(size=(hi - lo, dim)).astype(np.float32),
                    metadatas=[{"owner": f"u{i % owners}"} for i in range(lo, hi)])
        print(f"ingested {n} x {dim} in {time.time() - began:.1f} s", flush=True)
    finally:
        stop(proc)


def latency(port, token, where, dim, count):
    col = client(port, token).get_collection("bench")
    rng = np.random.default_rng(11)
    queries = rng.normal(size=(count + 10, dim)).astype(np.float32)
    for q in queries[:10]:
        col.query(query_embeddings=[q], n_results=10, where=where, include=[])
    times = []
    for q in queries[10:]:
        t = time.perf_counter()
        got = col.query(query_embeddings=[q], n_results=10, where=where, include=["metadatas"])
        times.append((time.perf_counter() - t) * 1000)
        assert len(got["ids"][0]) == 10 and all(m["owner"] == "u3" for m in got["metadatas"][0]), got
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def worker(port, token, where, dim, seconds, ready, out):
    col = client(port, token).get_collection("bench")
    rng = np.random.default_rng(os.getpid())
    queries = rng.normal(size=(128, dim)).astype(np.float32)
    for q in queries[:3]:
        col.query(query_embeddings=[q], n_results=10, where=where, include=[])
    ready.wait()
    done, end = 0, time.time() + seconds
    while time.time() < end:
        col.query(query_embeddings=[queries[done % len(queries)]], n_results=10, where=where, include=[])
        done += 1
    out.put(done)


def throughput(port, token, where, dim, workers, seconds):
    return run_workers(worker, (port, token, where, dim, seconds), workers, seconds)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/prism")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--owners", type=int, default=10)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="prism-rowbench-") as tmp:
        data, policy = os.path.join(tmp, "data"), os.path.join(tmp, "auth.yaml")
        with open(policy, "w") as f:
            f.write(POLICY)
        log = open(os.path.join(tmp, "server.log"), "w")
        ingest(args.bin, data, args.n, args.dim, args.owners, log)
        env = {
            "CHROMA_SERVER_AUTHN_PROVIDER": "token", "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": policy,
            "CHROMA_SERVER_AUTHZ_PROVIDER": "rbac", "CHROMA_SERVER_AUTHZ_CONFIG_FILE": policy,
        }
        port = free_port()
        proc = start(args.bin, data, port, env, log)
        results = {name: {"p50": [], "p99": [], "qps": []} for name, _, _ in SUBJECTS}
        try:
            for r in range(args.rounds):
                order = SUBJECTS if r % 2 == 0 else SUBJECTS[::-1]
                for name, token, where in order:
                    p50, p99 = latency(port, token, where, args.dim, args.queries)
                    qps = throughput(port, token, where, args.dim, args.workers, args.seconds)
                    for key, value in (("p50", p50), ("p99", p99), ("qps", qps)):
                        results[name][key].append(value)
                    print(f"round {r + 1}: {name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms, {qps:.0f} queries/s",
                          flush=True)
        finally:
            stop(proc)
    (rows, _, _), (client_where, _, _) = SUBJECTS
    summary = {name: {k: statistics.median(v) for k, v in m.items()} for name, m in results.items()}
    ratio_p50 = summary[rows]["p50"] / summary[client_where]["p50"]
    ratio_p99 = summary[rows]["p99"] / summary[client_where]["p99"]
    ratio_qps = summary[rows]["qps"] / summary[client_where]["qps"]
    print(f"\nmedian of {args.rounds} rounds, n={args.n}, dim={args.dim}, a row filter leaving 1/{args.owners}:")
    for name, m in summary.items():
        print(f"  {name:32} p50 {m['p50']:.2f} ms  p99 {m['p99']:.2f} ms  {m['qps']:.0f} queries/s")
    verdict = "met" if ratio_p50 <= 1.2 else "MISSED"
    print(f"  row filter / client where: p50 {ratio_p50:.2f}x (target <= 1.2x: {verdict}), "
          f"p99 {ratio_p99:.2f}x, throughput {ratio_qps:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rounds": results, "median": summary,
                       "ratio_p50": ratio_p50, "ratio_p99": ratio_p99, "ratio_qps": ratio_qps}, f, indent=2)


if __name__ == "__main__":
    main()
