"""The audit log: one JSON event per authentication and authorization
decision (`--audit-log FILE`, `--audit all|allowed|denied|off`), with trace
id, client, user, action, resource, decision, reason and provider, and never
a credential. Prism-only."""

from __future__ import annotations

import json
import time

import pytest

from auth_util import BASIC_SERVER, RBAC_SERVER, basic_header, bcrypt_line, request

pytestmark = [pytest.mark.auth, pytest.mark.prism_only("audit log")]

POLICY = """\
roles_mapping:
  reader:
    actions: [tenant:get_tenant, db:get_database, db:list_collections]
users:
  - id: alice
    role: reader
"""
PASSWORD = "s3cret-pass:word"


def events(path, want=1, timeout=5.0):
    deadline = time.time() + timeout
    while True:
        lines = [l for l in path.read_text().splitlines() if l.strip()] if path.exists() else []
        if len(lines) >= want or time.time() > deadline:
            return [json.loads(l) for l in lines]
        time.sleep(0.05)


@pytest.fixture
def audited(start_server, tmp_path):
    users = tmp_path / "users.htpasswd"
    users.write_text(bcrypt_line("alice", PASSWORD) + "\n")
    authz = tmp_path / "authz.yaml"
    authz.write_text(POLICY)

    def start(*args: str):
        log = tmp_path / f"audit-{len(args)}.jsonl"
        srv = start_server(args=["--audit-log", str(log), *args], env={
            "CHROMA_SERVER_AUTHN_PROVIDER": BASIC_SERVER,
            "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(users),
            "CHROMA_SERVER_AUTHZ_PROVIDER": RBAC_SERVER,
            "CHROMA_SERVER_AUTHZ_CONFIG_FILE": str(authz),
        })
        return srv, log

    return start


def test_every_decision_is_one_event(audited):
    srv, log = audited()
    ok = request(srv, "GET", "/tenants/default_tenant", headers=basic_header("alice", PASSWORD))
    assert ok.status_code == 200
    denied = request(srv, "POST", "/tenants", body={"name": "other"}, headers=basic_header("alice", PASSWORD))
    assert denied.status_code == 403
    bad = request(srv, "GET", "/tenants/default_tenant", headers=basic_header("alice", "wrong"))
    assert bad.status_code == 403
    assert request(srv, "GET", "/heartbeat").status_code == 200  # public: no decision

    got = events(log, want=5)
    fields = [e["fields"] for e in got]
    assert all(e["target"] == "prism::audit" for e in got)
    assert [(f["stage"], f["decision"]) for f in fields] == [
        ("authn", "allow"), ("authz", "allow"),
        ("authn", "allow"), ("authz", "deny"),
        ("authn", "deny"),
    ], fields
    allow = fields[1]
    assert allow["user"] == "alice" and allow["client"] == "127.0.0.1"
    assert allow["action"] == "tenant:get_tenant" and allow["tenant"] == "default_tenant"
    assert allow["provider"] == "rbac"
    assert len(allow["trace_id"]) == 32 and allow["trace_id"] == fields[0]["trace_id"]
    deny = fields[3]
    assert deny["action"] == "tenant:create_tenant" and deny["tenant"] == "other"
    assert "reason" in deny and deny["provider"] == "rbac"
    assert fields[2].get("reason") == "cached"
    failed = fields[4]
    assert failed["user"] == "alice" and "bad credentials" in failed["reason"]
    assert failed["provider"] == "htpasswd"
    # the refused request's trace id is the one the client saw
    assert failed["trace_id"] == bad.headers["chroma-trace-id"]

    text = log.read_text()
    for secret in (PASSWORD, "wrong", "$2b$", "Basic "):
        assert secret not in text, f"{secret!r} leaked into the audit log"


def test_denied_only(audited):
    srv, log = audited("--audit", "denied")
    assert request(srv, "GET", "/tenants/default_tenant", headers=basic_header("alice", PASSWORD)).status_code == 200
    assert request(srv, "GET", "/tenants/default_tenant", headers=basic_header("eve", "x")).status_code == 403
    got = events(log, want=1)
    time.sleep(0.3)
    got = events(log, want=1)
    assert [(e["fields"]["stage"], e["fields"]["decision"]) for e in got] == [("authn", "deny")]


def test_on_stderr_only_refusals_are_audited_unless_asked(start_server, tmp_path):
    users = tmp_path / "users.htpasswd"
    users.write_text(bcrypt_line("alice", PASSWORD) + "\n")
    env = {
        "CHROMA_SERVER_AUTHN_PROVIDER": BASIC_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(users),
    }

    def audit_lines(*args: str):
        srv = start_server(args=list(args), env=env)
        ok = basic_header("alice", PASSWORD)
        for _ in range(3):
            assert request(srv, "GET", "/tenants/default_tenant", headers=ok).status_code == 200
        assert request(srv, "GET", "/tenants/default_tenant", headers=basic_header("eve", "x")).status_code == 403
        srv.stop()
        lines = [json.loads(line) for line in srv.log_text(200000).splitlines() if '"prism::audit"' in line]
        return [(e["fields"]["stage"], e["fields"]["decision"]) for e in lines]

    assert audit_lines() == [("authn", "deny")]
    everything = audit_lines("--audit", "all")
    assert ("authn", "deny") in everything and everything.count(("authn", "allow")) >= 1, everything
