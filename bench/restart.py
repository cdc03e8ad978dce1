"""Measure ingest speed and restart-to-first-query time of a Prism binary.

usage: python bench/restart.py PRISM_BIN [N] [DIM]
Ingests N clustered float32 vectors (batches of 1,000) through the real
chromadb client, stops the server with SIGTERM, starts it again on the same
data directory and times start -> first answered query.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import chromadb
import httpx
import numpy as np


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, port, path):
    proc = subprocess.Popen([binary, "run", "--port", str(port), "--path", path],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(path, "..", "log"), "a"))
    return proc


def wait_client(port, deadline=60):
    t0 = time.time()
    while time.time() - t0 < deadline:
        try:
            c = chromadb.HttpClient(host="localhost", port=port)
            c.heartbeat()
            return c
        except Exception:
            time.sleep(0.02)
    raise RuntimeError("server did not start")


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    dim = int(sys.argv[3]) if len(sys.argv) > 3 else 384
    rng = np.random.default_rng(42)
    centers = rng.normal(size=(100, dim)).astype(np.float32)
    data = centers[rng.integers(0, 100, n)] + 0.1 * rng.normal(size=(n, dim)).astype(np.float32)
    work = tempfile.mkdtemp()
    path = os.path.join(work, "data")
    os.makedirs(path)
    port = free_port()
    proc = start(binary, port, path)
    client = wait_client(port)
    col = client.create_collection("bench")
    t0 = time.time()
    for i in range(0, n, 1000):
        ids = [str(j) for j in range(i, min(i + 1000, n))]
        col.add(ids=ids, embeddings=data[i:i + 1000],
                metadatas=[{"cat": j % 10, "n": j} for j in range(i, i + len(ids))],
                documents=[f"document number {j}" for j in range(i, i + len(ids))])
    ingest = time.time() - t0
    col.query(query_embeddings=data[:1], n_results=10)
    # Let the HNSW graph finish building so shutdown saves it.
    status_url = (f"http://127.0.0.1:{port}/api/v2/tenants/default_tenant/databases/"
                  f"default_database/collections/{col.id}/indexing_status")
    t_graph = time.time()
    while httpx.get(status_url).json()["op_indexing_progress"] < 1.0:
        time.sleep(0.5)
    graph_build = time.time() - t_graph
    proc.send_signal(signal.SIGTERM)
    t1 = time.time()
    proc.wait(timeout=300)
    stop = time.time() - t1
    t2 = time.time()
    proc = start(binary, port, path)
    client = wait_client(port)
    col = client.get_collection("bench")
    res = col.query(query_embeddings=data[:1], n_results=10)
    first_query = time.time() - t2
    assert res["ids"][0][0] is not None
    t3 = time.time()
    for q in data[1:101]:
        col.query(query_embeddings=[q], n_results=10)
    per_query_ms = (time.time() - t3) * 10
    t4 = time.time()
    while httpx.get(status_url).json()["op_indexing_progress"] < 1.0:
        time.sleep(0.05)
    graph_load = time.time() - t2
    t5 = time.time()
    for q in data[1:101]:
        col.query(query_embeddings=[q], n_results=10)
    graph_query_ms = (time.time() - t5) * 10
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=300)
    print(f"n={n} dim={dim} ingest={n / ingest:.0f} vec/s graph_build={graph_build:.1f}s "
          f"shutdown={stop:.2f}s restart_to_first_query={first_query:.2f}s "
          f"exact_query_while_loading={per_query_ms:.2f}ms restart_to_graph_ready={graph_load:.2f}s "
          f"graph_query={graph_query_ms:.2f}ms")


if __name__ == "__main__":
    main()
