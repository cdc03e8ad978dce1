"""OpenTelemetry traces over OTLP, received by a local collector the test
starts: over gRPC (what Chroma's `open_telemetry` config keys and variables
give, its servers' own transport), built from `opentelemetry-proto`'s
service definition and `grpcio`, and over HTTP with a protobuf body."""

from __future__ import annotations

import json
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import List

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from auth_util import bearer, request
from e2e_util import make_client

pytestmark = pytest.mark.prism_only("OTLP trace export is Prism's own")


class GrpcCollector(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.requests: List[trace_service_pb2.ExportTraceServiceRequest] = []
        self.metadata: List[dict] = []
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def Export(self, req, context):  # noqa: N802 (gRPC's name)
        self.requests.append(req)
        self.metadata.append(dict(context.invocation_metadata()))
        return trace_service_pb2.ExportTraceServiceResponse()

    def stop(self) -> None:
        self.server.stop(0)


class HttpCollector:
    def __init__(self) -> None:
        self.requests: List[trace_service_pb2.ExportTraceServiceRequest] = []
        self.headers: List[dict] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                assert self.path == "/v1/traces", self.path
                collector.headers.append({k.lower(): v for k, v in self.headers.items()})
                collector.requests.append(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()


def spans_of(collector, timeout: float = 20):
    """Every span received so far, with its resource, waiting until one came."""
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for req in list(collector.requests):
            for rs in req.resource_spans:
                resource = {a.key: a.value.string_value for a in rs.resource.attributes}
                for ss in rs.scope_spans:
                    found += [(resource, s) for s in ss.spans]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def span_with_trace(collector, trace_hex: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for resource, span in spans_of(collector, timeout=1):
            if span.trace_id.hex() == trace_hex:
                return resource, span
        time.sleep(0.2)
    raise AssertionError(f"no span of trace {trace_hex}; got {[s.trace_id.hex() for _, s in spans_of(collector, 0)]}")


def attributes(span) -> dict:
    out = {}
    for a in span.attributes:
        v = a.value
        out[a.key] = v.string_value if v.HasField("string_value") else v.int_value
    return out


@pytest.fixture
def grpc_collector():
    collector = GrpcCollector()
    yield collector
    collector.stop()


@pytest.mark.auth
def test_chromas_config_keys_send_spans_over_grpc_with_the_error_and_audit_trace_id(start_server, grpc_collector, tmp_path):
    users = tmp_path / "users.yaml"
    users.write_text("users:\n  - {id: root, tokens: [root-token]}\n")
    audit = tmp_path / "audit.jsonl"
    srv = start_server(
        config={"open_telemetry": {"endpoint": f"http://127.0.0.1:{grpc_collector.port}",
                                   "service_name": "prism-e2e"}},
        args=["--audit-log", str(audit)],
        env={"CHROMA_SERVER_AUTHN_PROVIDER": "token",
             "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(users)},
    )
    r = request(srv, "GET", "/tenants/default_tenant/databases/default_database/collections/missing",
                headers=bearer("root-token"))
    assert r.status_code == 404
    trace = r.headers["chroma-trace-id"]
    resource, span = span_with_trace(grpc_collector, trace)
    assert resource["service.name"] == "prism-e2e"
    assert span.name == "GET /api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}"
    assert span.kind == 2  # SERVER
    a = attributes(span)
    assert a["http.response.status_code"] == 404 and a["http.request.method"] == "GET", a
    assert a["http.route"] == "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}"
    assert span.end_time_unix_nano >= span.start_time_unix_nano > 0
    assert len(span.parent_span_id) == 0
    # The audit events of the request carry the same id.
    deadline = time.monotonic() + 10
    while True:
        events = [json.loads(line) for line in audit.read_text().splitlines() if line.strip()]
        if any(e["fields"].get("trace_id") == trace for e in events) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert any(e["fields"].get("trace_id") == trace for e in events), events[-3:]
    # No credential in any span.
    assert all("root-token" not in str(s) for _, s in spans_of(grpc_collector, 0))


def test_a_clients_traceparent_is_continued(start_server, grpc_collector):
    srv = start_server(env={"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{grpc_collector.port}"})
    parent_trace, parent_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    r = httpx.get(srv.api + "/tenants/default_tenant/databases/default_database/collections/missing",
                  headers={"traceparent": f"00-{parent_trace}-{parent_span}-01"})
    assert r.headers["chroma-trace-id"] == parent_trace
    resource, span = span_with_trace(grpc_collector, parent_trace)
    assert span.parent_span_id.hex() == parent_span
    assert resource["service.name"] == "prism"


def test_spans_over_http_protobuf_with_the_configured_headers(start_server):
    collector = HttpCollector()
    try:
        srv = start_server(env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_HEADERS": "x-team=blue",
            "OTEL_SERVICE_NAME": "prism-http",
        })
        col = make_client(srv).create_collection("traced")
        col.add(ids=["a"], embeddings=[[1.0, 2.0]])
        add = "POST /api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/add"
        deadline = time.monotonic() + 20
        while add not in {s.name for _, s in spans_of(collector)}:
            assert time.monotonic() < deadline, {s.name for _, s in spans_of(collector, 0)}
            time.sleep(0.2)
        assert spans_of(collector)[0][0]["service.name"] == "prism-http"
        assert collector.headers[0]["x-team"] == "blue"
        assert collector.headers[0]["content-type"] == "application/x-protobuf"
    finally:
        collector.stop()


def test_a_collector_that_is_down_costs_no_request(start_server):
    from conftest import free_port

    srv = start_server(env={"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}"})
    started = time.monotonic()
    for _ in range(20):
        assert httpx.get(srv.api + "/heartbeat").status_code == 200
    assert time.monotonic() - started < 5
    assert srv.running()


def test_a_gateways_upstream_sees_the_gateways_span_as_parent(start_server, grpc_collector, tmp_path):
    from test_gateway import Recorder, chroma_answers

    fake = Recorder(chroma_answers)
    try:
        gw = start_server(args=["--upstream", fake.url],
                          env={"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{grpc_collector.port}"})
        r = httpx.get(gw.api + "/tenants/default_tenant/databases/default_database/collections/x")
        trace = r.headers["chroma-trace-id"]
        _, span = span_with_trace(grpc_collector, trace)
        forwarded = [s for s in fake.seen if s["path"].endswith("/collections/x")][0]
        assert forwarded["headers"]["traceparent"] == f"00-{trace}-{span.span_id.hex()}-01"
    finally:
        fake.close()


def test_config_check_says_where_traces_go(tmp_path):
    from e2e_util import prism

    config = tmp_path / "config.yaml"
    config.write_text('open_telemetry: {endpoint: "http://otel-collector:4317", service_name: "svc"}\n')
    done = prism("config", "check", str(config), "--path", str(tmp_path / "d"))
    assert done.returncode == 0, done.stderr
    assert "traces:         OTLP Grpc to http://otel-collector:4317 as svc" in done.stdout, done.stdout
    done = prism("config", "check", "--path", str(tmp_path / "d"),
                 env={"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert done.returncode != 0 and "grpc or http/protobuf" in done.stderr, done.stderr
