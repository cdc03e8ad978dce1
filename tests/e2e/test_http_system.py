"""Raw HTTP: system routes, v1, unknown routes, body parsing errors, the error
shape and trace-id header, reset permission, body size limit."""

import re
import time

import httpx
import pytest

from e2e_util import DB, assert_error, post_oversized


def test_heartbeat_shape(server, http):
    # note: httpx would turn base_url + "" into ".../api/v2/" (trailing slash)
    for url in (server.api, server.api + "/heartbeat"):
        before = time.time_ns()
        r = httpx.get(url, timeout=30)
        after = time.time_ns()
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json")
        body = r.json()
        assert list(body) == ["nanosecond heartbeat"]
        hb = body["nanosecond heartbeat"]
        assert isinstance(hb, int)
        # nanoseconds since the epoch, from the same clock as ours
        assert before - 5_000_000_000 <= hb <= after + 5_000_000_000


def test_version_is_json_string(http):
    r = http.get("/version")
    assert r.status_code == 200
    v = r.json()
    assert isinstance(v, str)
    assert re.fullmatch(r"\d+\.\d+\.\d+", v), v


def test_pre_flight_checks(http):
    r = http.get("/pre-flight-checks")
    assert r.status_code == 200
    assert r.json() == {"max_batch_size": 5461, "supports_base64_encoding": True}


def test_healthcheck(http):
    r = http.get("/healthcheck")
    assert r.status_code == 200
    assert r.json() == {"is_executor_ready": True, "is_log_client_ready": True}


def test_auth_identity_without_auth(http):
    r = http.get("/auth/identity")
    assert r.status_code == 200
    assert r.json() == {
        "user_id": "",
        "tenant": "default_tenant",
        "databases": ["default_database"],
    }


def test_default_tenant_and_database(http):
    r = http.get("/tenants/default_tenant")
    assert r.status_code == 200
    assert r.json()["name"] == "default_tenant"
    r = http.get("/tenants/default_tenant/databases/default_database")
    assert r.status_code == 200
    assert r.json() == {
        "id": "00000000-0000-0000-0000-000000000000",
        "name": "default_database",
        "tenant": "default_tenant",
    }


V1_PATHS = ["/api/v1/heartbeat", "/api/v1/collections", "/api/v1/a/b/c"]


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT", "PATCH"])
@pytest.mark.parametrize("path", V1_PATHS)
def test_api_v1_is_gone(server, http, method, path):
    r = httpx.request(method, server.url + path, timeout=30)
    assert_error(
        r, 410, "Unimplemented", "The v1 API is deprecated. Please use /v2 apis"
    )


@pytest.mark.chroma_bug("POST /api/v1/... answers an empty 405 instead of 410 like the other methods")
@pytest.mark.parametrize("path", V1_PATHS)
def test_api_v1_post_is_gone(server, http, path):
    r = httpx.post(server.url + path, json={}, timeout=30)
    assert_error(
        r, 410, "Unimplemented", "The v1 API is deprecated. Please use /v2 apis"
    )


@pytest.mark.parametrize(
    "path", ["/api/v2/nope", "/api/v2/heartbeat/", "/api/v3/heartbeat", "/", "/api/v1"]
)
def test_unknown_route_is_404(server, http, path):
    r = httpx.get(server.url + path, timeout=30)
    assert r.status_code == 404
    assert "chroma-trace-id" in r.headers


@pytest.mark.chroma_bug("unknown routes get a 404 with an empty body instead of the JSON error shape")
@pytest.mark.parametrize("path", ["/api/v2/nope", "/api/v2/heartbeat/"])
def test_unknown_route_is_404_json(server, http, path):
    r = httpx.get(server.url + path, timeout=30)
    body = assert_error(r, 404)
    assert body["message"]


def test_wrong_method_is_405(http):
    r = http.delete("/heartbeat")
    assert r.status_code == 405
    assert "chroma-trace-id" in r.headers


@pytest.mark.chroma_bug("405 Method Not Allowed has an empty body instead of the JSON error shape")
def test_wrong_method_is_405_json(http):
    assert_error(http.delete("/heartbeat"), 405)


# A syntax error found before any type error -> 400 (a type error met first,
# e.g. in "[1,2", is a 422 like below: the JSON is parsed as a stream).
@pytest.mark.parametrize("raw", ["{not json", "", '{"name": "abc",}', '{"name": "abc"'])
def test_malformed_json_body_is_400(http, raw):
    r = http.post(
        DB + "/collections", content=raw, headers={"content-type": "application/json"}
    )
    assert_error(
        r, 400, "InvalidArgumentError", message_re=r"^Failed to parse the request body as JSON"
    )
    assert http.get(DB + "/collections_count").json() == 0


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": 123}, "name"),
        ({}, "name"),
        ({"name": "abc", "metadata": {"a": {"b": 1}}}, "metadata"),
        ({"name": "abc", "metadata": {"a": None}}, "metadata"),
        ({"name": "abc", "get_or_create": "yes"}, "get_or_create"),
    ],
)
def test_wrongly_typed_json_body_is_422(http, body, field):
    r = http.post(DB + "/collections", json=body)
    msg = assert_error(
        r,
        422,
        "ChromaError",
        message_re=r"^Failed to deserialize the JSON body into the target type",
    )["message"]
    assert field in msg
    assert http.get(DB + "/collections_count").json() == 0


def test_missing_content_type_is_treated_as_json(http):
    r = http.post(DB + "/collections", content=b'{"name":"no-content-type"}')
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "no-content-type"


def test_non_json_content_type_is_415(http):
    r = http.post(
        DB + "/collections",
        content=b'{"name":"text-plain"}',
        headers={"content-type": "text/plain"},
    )
    assert_error(
        r, 415, "ChromaError", "Expected request with `Content-Type: application/json`"
    )
    assert http.get(DB + "/collections_count").json() == 0


def test_error_shape_and_trace_id_for_not_found(http):
    r = http.get(DB + "/collections/does-not-exist")
    assert_error(r, 404, "NotFoundError", "Collection [does-not-exist] does not exist")
    trace = r.headers["chroma-trace-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", trace), trace


def test_success_has_no_error_fields(http):
    r = http.post(DB + "/collections", json={"name": "okay"})
    assert r.status_code == 200
    body = r.json()
    assert "error" not in body and body["name"] == "okay"


def test_client_error_carries_trace_id(client):
    from chromadb.errors import NotFoundError

    with pytest.raises(NotFoundError) as e:
        client.get_collection("missing-collection")
    assert e.value.trace_id is not None
    assert re.fullmatch(r"[0-9a-f]{32}", e.value.trace_id)


def test_reset_wipes_everything(http, admin, client):
    admin.create_tenant("tenant-x")
    admin.create_database("db-x", tenant="tenant-x")
    col = client.create_collection("to-be-reset")
    col.add(ids=["a"], embeddings=[[1.0, 2.0]])
    r = http.post("/reset")
    assert r.status_code == 200
    assert r.json() is True
    assert http.get(DB + "/collections_count").json() == 0
    assert http.get("/tenants/tenant-x").status_code == 404
    # defaults are back
    assert http.get("/tenants/default_tenant").status_code == 200
    assert http.get("/tenants/default_tenant/databases/default_database").status_code == 200


def test_reset_forbidden_unless_allowed(start_server):
    srv = start_server(allow_reset=False)
    r = httpx.post(srv.api + "/reset", timeout=30)
    assert_error(r, 403, "ChromaError", "Reset is disabled by config")


def oversized(server, prefix):
    # 40 MiB is the default limit (max_payload_size_bytes). A plain socket is
    # used so that a server answering before the whole body is read is seen;
    # under load Chroma sometimes drops the connection without an answer, so
    # an attempt without any response is retried.
    for _ in range(3):
        r = post_oversized(server.host, server.port, "/api/v2" + DB + "/collections", 41 * 1024 * 1024, prefix)
        if r is not None:
            return r
    pytest.fail("server closed the connection three times without answering a 413")


@pytest.mark.parametrize("prefix", [b'{"name":"', b"not even json "])
def test_oversized_body_is_413(server, http, prefix):
    r = oversized(server, prefix)
    assert_error(r, 413, "ChromaError", "Failed to buffer the request body: length limit exceeded")
    assert http.get(DB + "/collections_count").json() == 0
