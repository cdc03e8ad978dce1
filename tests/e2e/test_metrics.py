"""`GET /metrics`: scraped and parsed by the Prometheus text-format parser of
the `prometheus_client` package, as a Prometheus server would read it."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from auth_util import bearer, plugin_dir, request
from conftest import ServerProcess
from e2e_util import make_client

pytestmark = pytest.mark.prism_only("Prometheus metrics are Prism's own")

COLL = "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}"


def scrape(srv, headers: Optional[Dict[str, str]] = None, source: str = "127.0.0.1") -> Dict[str, list]:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=30) as client:
        r = client.get(srv.url + "/metrics", headers=headers or {})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers
    samples: Dict[str, list] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples.setdefault(s.name, []).append(s)
    return samples


def value(samples, name: str, **labels) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(s.value for s in samples.get(name, [])
               if all(s.labels.get(k) == v for k, v in labels.items()))


def test_requests_latency_and_holdings_are_exposed(start_server):
    srv = start_server()
    col = make_client(srv).create_collection("metrics-col")
    col.add(ids=[str(i) for i in range(30)], embeddings=[[float(i), 1.0] for i in range(30)])
    col.query(query_embeddings=[[1.0, 1.0]], n_results=3)
    assert httpx.get(srv.api + "/no-such-route").status_code == 404
    m = scrape(srv)
    assert value(m, "prism_http_requests_total", route=f"{COLL}/add", status="201") == 1
    assert value(m, "prism_http_requests_total", route=f"{COLL}/query", method="POST", status="200") == 1
    # Unknown paths share one series: a client cannot make series at will.
    assert value(m, "prism_http_requests_total", route="unmatched", status="404") == 1
    assert not any("no-such-route" in str(s.labels) for s in m["prism_http_requests_total"])
    buckets = [s for s in m["prism_http_request_duration_seconds_bucket"]
               if s.labels["route"] == f"{COLL}/add"]
    assert buckets and buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == 1
    assert value(m, "prism_http_request_duration_seconds_count", route=f"{COLL}/add") == 1
    assert value(m, "prism_collections") == 1
    assert value(m, "prism_records") == 30
    assert value(m, "prism_sqlite_bytes") > 0
    assert "prism_vectors_pending_index" in m and "prism_graph_bytes" in m


def test_metrics_can_be_turned_off(start_server):
    srv = start_server(env={"PRISM_METRICS": "false"})
    assert httpx.get(srv.url + "/metrics").status_code == 404


@pytest.mark.auth
def test_with_auth_a_scrape_needs_the_system_metrics_action(start_server, tmp_path):
    authz = tmp_path / "authz.yaml"
    authz.write_text(
        "roles_mapping:\n"
        "  admin: {actions: ['*']}\n"
        "  scraper: {actions: ['system:metrics']}\n"
        "  reader: {actions: ['db:list_collections']}\n"
        "users:\n"
        "  - {id: root, role: admin, tokens: [root-token]}\n"
        "  - {id: prometheus, role: scraper, tokens: [scrape-token]}\n"
        "  - {id: reader, role: reader, tokens: [reader-token]}\n"
    )
    srv = start_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": "token",
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(authz),
        "CHROMA_SERVER_AUTHZ_PROVIDER": "rbac",
        "CHROMA_SERVER_AUTHZ_CONFIG_FILE": str(authz),
    })
    for headers, status in [({}, 403), (bearer("wrong"), 403), (bearer("reader-token"), 403)]:
        assert httpx.get(srv.url + "/metrics", headers=headers).status_code == status
    m = scrape(srv, bearer("scrape-token"))
    assert value(m, "prism_auth_decisions_total", stage="authn", provider="token", outcome="denied") >= 2
    assert value(m, "prism_auth_decisions_total", stage="authz", provider="rbac", outcome="denied") >= 1
    assert value(m, "prism_auth_decisions_total", stage="authz", provider="rbac", outcome="allowed") >= 1
    assert value(m, "prism_plugin_call_duration_seconds_count", stage="authn", provider="token") >= 3
    # Metrics never carry credentials.
    text = httpx.get(srv.url + "/metrics", headers=bearer("root-token")).text
    assert "scrape-token" not in text and "root-token" not in text


@pytest.mark.auth
def test_plugin_traps_and_timeouts_are_counted(start_server, tmp_path):
    plugins = plugin_dir(tmp_path / "plugins", **{"misbehaving.wasm": "fixtures/misbehaving.wasm"})
    srv = start_server(env={
        "PRISM_PLUGIN_DIR": str(plugins),
        "CHROMA_SERVER_AUTHN_PROVIDER": "misbehaving",
        "PRISM_PLUGIN_TIMEOUT_MS": "300",
    })
    for how in ("trap", "trap", "loop"):
        assert request(srv, "GET", "/auth/identity", headers={"x-misbehave": how}).status_code == 503
    m = scrape(srv)
    failures = dict(stage="authn", provider="misbehaving")
    assert value(m, "prism_plugin_failures_total", kind="trap", **failures) == 2
    assert value(m, "prism_plugin_failures_total", kind="timeout", **failures) == 1
    assert value(m, "prism_auth_decisions_total", outcome="failed", **failures) == 3


@pytest.mark.auth
def test_failed_logins_past_the_limit_are_counted_as_throttled(start_server, tmp_path):
    users = tmp_path / "users.yaml"
    users.write_text("users:\n  - {id: root, tokens: [root-token]}\n")
    srv = start_server(env={
        "CHROMA_SERVER_AUTHN_PROVIDER": "token",
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(users),
        "PRISM_AUTH_MAX_FAILURES": "2",
    })
    statuses = [request(srv, "GET", "/auth/identity", headers=bearer("nope")).status_code for _ in range(4)]
    assert statuses[-1] == 429, statuses
    # From another address: this one is locked out now.
    m = scrape(srv, bearer("root-token"), source="127.0.0.2")
    assert value(m, "prism_auth_throttled_total") >= 1


def test_a_gateway_reports_its_upstream_latency(start_server, tmp_path):
    upstream = ServerProcess("chroma", tmp_path / "upstream").start()
    try:
        gw = start_server(args=["--upstream", upstream.url])
        make_client(gw).create_collection("through")
        m = scrape(gw)
        assert value(m, "prism_upstream_request_duration_seconds_count", status="200") >= 1
        assert value(m, "prism_http_requests_total", route="/api/v2/tenants/{tenant}/databases/{database}/collections",
                     method="POST", status="200") == 1
        # A gateway holds no data of its own.
        assert "prism_records" not in m
    finally:
        upstream.stop()
