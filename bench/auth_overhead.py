"""What authentication costs: query throughput of Prism without auth against
Prism with htpasswd (bcrypt cost 12) + rbac, through the real chromadb client;
with `--configs none,token,jwt`, static tokens against JWTs (HS256, minted
here) instead, both without an authorizer; with
`--configs none,token,token+rust,token+js,token+python`, the same authorizer
(the `prism plugin new --kind authz` template: everyone reads, teams write
their own collections) written in Rust, JavaScript and Python, each made and
built here with `prism plugin new` and its language's pinned toolchain.

usage: python bench/auth_overhead.py [--bin target/release/prism] [--n 20000]
           [--dim 384] [--workers 8] [--seconds 10] [--rounds 3] [--json out.json]
           [--configs none,htpasswd12+rbac]

One data directory is ingested once (no auth), then the server is restarted
alternately without and with auth on the same data, `rounds` times each (the
order swapping every round), so both configurations see the same machine
state. Each measurement runs
`workers` client processes (separate processes, so the client's GIL is not the
limit) issuing n_results=10 queries for `seconds` after a warm-up that also
pays each worker's first (uncached) bcrypt check. Prints queries/s for both
and the ratio; the target is auth >= 95% of no-auth.
"""

import argparse
import base64
import hashlib
import hmac
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import bcrypt
import chromadb
import numpy as np
from chromadb.config import Settings

PASSWORD = "bench-password"
AUTHZ = """\
roles_mapping:
  reader:
    actions: [tenant:get_tenant, db:get_database, collection:get_collection, collection:query, collection:get]
  admin:
    actions: ["*"]
users:
  - id: bench
    role: reader
  - id: admin
    role: admin
"""


TOKEN = "bench-static-token-0123456789"
JWT_SECRET = b"bench-jwt-secret-0123456789abcdef0123456789"
JWT_ISSUER, JWT_AUDIENCE = "https://idp.bench.invalid/realms/bench", "prism"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_for(user: str) -> str:
    """An HS256 token for `user`, valid for an hour."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": user, "iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "exp": int(time.time()) + 3600}
    payload = b64url(json.dumps(claims).encode())
    signature = hmac.new(JWT_SECRET, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def credentials(auth):
    """(client auth provider, credentials, Authorization header) of an auth
    configuration's user, `auth` being "kind:user"."""
    kind, user = auth.split(":")
    if kind == "basic":
        token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
        return ("chromadb.auth.basic_authn.BasicAuthClientProvider", f"{user}:{PASSWORD}",
                f"Basic {token}")
    secret = TOKEN if kind == "token" else jwt_for(user)
    return ("chromadb.auth.token_authn.TokenAuthClientProvider", secret, f"Bearer {secret}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client_for(port, auth):
    if not auth:
        return chromadb.HttpClient(host="127.0.0.1", port=port)
    provider, secret, _ = credentials(auth)
    return chromadb.HttpClient(
        host="127.0.0.1",
        port=port,
        settings=Settings(
            chroma_client_auth_provider=provider,
            chroma_client_auth_credentials=secret,
        ),
    )


def start(binary, path, port, env_extra, log):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHROMA_", "PRISM_"))}
    env.update(env_extra)
    env.setdefault("RUST_LOG", "warn")
    proc = subprocess.Popen(
        [binary, "run", "--port", str(port), "--path", path],
        stdout=subprocess.DEVNULL, stderr=log, env=env,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2).read()
            return proc
        except Exception:
            if proc.poll() is not None:
                raise RuntimeError("server exited; see the log")
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def wait_indexed(port, col_id, auth, timeout=900):
    """Until the collection's graph is ready (`indexing_status`): a restarted
    server answers with exact search while it loads the saved graph, and the
    first server saves one at shutdown only once it exists."""
    url = (f"http://127.0.0.1:{port}/api/v2/tenants/default_tenant/databases/"
           f"default_database/collections/{col_id}/indexing_status")
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", credentials(auth)[2])
    deadline = time.time() + timeout
    while time.time() < deadline:
        with urllib.request.urlopen(request, timeout=30) as r:
            if json.load(r).get("op_indexing_progress", 1.0) >= 1.0:
                return
        time.sleep(0.1)
    raise RuntimeError("graph not ready")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


def worker(port, auth, dim, seconds, ready, out):
    client = client_for(port, auth)
    col = client.get_collection("bench")
    rng = np.random.default_rng(os.getpid())
    queries = rng.normal(size=(256, dim)).astype(np.float32)
    # Warm-up: connection, first (uncached) bcrypt, graph.
    for q in queries[:5]:
        col.query(query_embeddings=[q], n_results=10, include=[])
    # Everyone starts together, once every worker is warm.
    ready.wait()
    done = 0
    end = time.time() + seconds
    while time.time() < end:
        col.query(query_embeddings=[queries[done % len(queries)]], n_results=10, include=[])
        done += 1
    out.put(done)


def run_workers(target, args, workers, seconds):
    """Queries per second of `workers` processes running
    `target(*args, ready, out)`, each putting its count of queries on `out`
    after `seconds` (they start together at the `ready` barrier)."""
    out = mp.Queue()
    ready = mp.Barrier(workers)
    procs = [mp.Process(target=target, args=(*args, ready, out)) for _ in range(workers)]
    for p in procs:
        p.start()
    total = sum(out.get(timeout=seconds + 120) for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def measure(port, auth, dim, workers, seconds):
    return run_workers(worker, (port, auth, dim, seconds), workers, seconds)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/prism")
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json")
    ap.add_argument("--configs", default="none,htpasswd12+rbac",
                    help="comma-separated: none, htpasswd12+rbac, token, jwt, token+rust, "
                         "token+js, token+python")
    args = ap.parse_args()
    args.bin = os.path.abspath(args.bin)

    work = tempfile.mkdtemp(prefix="prism-auth-bench-")
    path = os.path.join(work, "data")
    htpasswd = os.path.join(work, "users.htpasswd")
    authz = os.path.join(work, "authz.yaml")
    with open(htpasswd, "w") as f:
        for user in ("bench", "admin"):
            h = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(12)).decode()
            f.write(f"{user}:{h}\n")
    with open(authz, "w") as f:
        f.write(AUTHZ)
    auth_env = {
        "CHROMA_SERVER_AUTHN_PROVIDER": "chromadb.auth.basic_authn.BasicAuthenticationServerProvider",
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": htpasswd,
        "CHROMA_SERVER_AUTHZ_PROVIDER": "chromadb.auth.simple_rbac_authz.SimpleRBACAuthorizationProvider",
        "CHROMA_SERVER_AUTHZ_CONFIG_FILE": authz,
    }
    log = open(os.path.join(work, "server.log"), "ab")
    port = free_port()

    proc = start(args.bin, path, port, {}, log)
    rng = np.random.default_rng(42)
    centers = rng.normal(size=(100, args.dim)).astype(np.float32)
    col = client_for(port, None).create_collection("bench")
    for i in range(0, args.n, 1000):
        m = min(1000, args.n - i)
        vecs = centers[rng.integers(0, 100, m)] + 0.1 * rng.normal(size=(m, args.dim)).astype(np.float32)
        col.add(ids=[str(j) for j in range(i, i + m)], embeddings=vecs,
                metadatas=[{"cat": j % 10, "n": j} for j in range(i, i + m)])
    wait_indexed(port, col.id, None)
    stop(proc)

    secret_file = os.path.join(work, "jwt.secret")
    with open(secret_file, "wb") as f:
        f.write(JWT_SECRET)
    token_env = {
        "CHROMA_SERVER_AUTHN_PROVIDER": "chromadb.auth.token_authn.TokenAuthenticationServerProvider",
        "CHROMA_SERVER_AUTHN_CREDENTIALS": TOKEN,
    }
    jwt_env = {
        "CHROMA_SERVER_AUTHN_PROVIDER": "jwt",
        "PRISM_AUTHN_OPT_SECRET_FILE": secret_file,
        "PRISM_AUTHN_OPT_ISSUER": JWT_ISSUER,
        "PRISM_AUTHN_OPT_AUDIENCE": JWT_AUDIENCE,
    }
    def authorizer(lang):
        """The authz template in `lang`, built: its environment."""
        project = os.path.join(work, f"authz-{lang}")
        plugins = os.path.join(work, f"plugins-{lang}")
        out = os.path.join(plugins, "bench-authz.wasm")
        subprocess.run([args.bin, "plugin", "new", "--lang", lang, "--kind", "authz", "bench-authz", project],
                       check=True, stdout=subprocess.DEVNULL)
        steps = {
            "rust": [[args.bin, "plugin", "build", ".", "-o", out]],
            "js": [["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                   ["npm", "run", "build", "--", "-o", out]],
            "python": [[sys.executable, "-m", "venv", ".venv"],
                       [".venv/bin/pip", "install", "-q", "-r", "requirements.txt"],
                       [".venv/bin/python", "-m", "prism_plugin_sdk.build", "-o", out]],
        }[lang]
        env = dict(os.environ, CARGO_TARGET_DIR=os.path.abspath("target"))
        for step in steps:
            subprocess.run(step, cwd=project, check=True, env=env, stdout=subprocess.DEVNULL)
        return {**token_env, "PRISM_PLUGIN_DIR": plugins, "CHROMA_SERVER_AUTHZ_PROVIDER": "bench-authz",
                "PRISM_PLUGIN_CACHE_DIR": os.path.join(work, "plugin-cache")}

    # label -> (environment, the measuring user, the user waiting for the index)
    known = {
        "none": ({}, None, None),
        "htpasswd12+rbac": (auth_env, "basic:bench", "basic:admin"),
        "token": (token_env, "token:anonymous", "token:anonymous"),
        "jwt": (jwt_env, "jwt:bench", "jwt:bench"),
    }
    for lang in ("rust", "js", "python"):
        if f"token+{lang}" in args.configs.split(","):
            known[f"token+{lang}"] = (authorizer(lang), "token:anonymous", "token:anonymous")
    labels = args.configs.split(",")
    unknown = [c for c in labels if c not in known]
    if unknown:
        ap.error(f"unknown configuration(s): {', '.join(unknown)}")
    results = {label: [] for label in labels}
    for r in range(args.rounds):
        # The order turns every round, so whatever the machine does between
        # two runs does not favour one configuration.
        shift = r % len(labels)
        for label in labels[shift:] + labels[:shift]:
            env, auth, admin = known[label]
            proc = start(args.bin, path, port, env, log)
            # Let the background graph load finish before measuring.
            wait_indexed(port, col.id, admin)
            qps = measure(port, auth, args.dim, args.workers, args.seconds)
            stop(proc)
            results[label].append(qps)
            print(f"round {r + 1}: {label:>16}: {qps:8.1f} queries/s", flush=True)

    medians = {label: statistics.median(runs) for label, runs in results.items()}
    print()
    print(f"{'configuration':>18} | {'median q/s':>10} | vs {labels[0]}")
    for label in labels:
        print(f"{label:>18} | {medians[label]:10.1f} | {medians[label] / medians[labels[0]]:.3f}")
    if "token" in medians and "jwt" in medians:
        print(f"ratio jwt/token: {medians['jwt'] / medians['token']:.3f} (target >= 0.95)")
    for lang in ("rust", "js", "python"):
        if f"token+{lang}" in medians and "token" in medians:
            print(f"ratio token+{lang}/token: {medians[f'token+{lang}'] / medians['token']:.3f}")
    if "htpasswd12+rbac" in medians and "none" in medians:
        print(f"ratio htpasswd12+rbac/no-auth: {medians['htpasswd12+rbac'] / medians['none']:.3f} "
              "(target >= 0.95)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"n": args.n, "dim": args.dim, "workers": args.workers,
                       "seconds": args.seconds, "runs": results,
                       "median_qps": medians}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
