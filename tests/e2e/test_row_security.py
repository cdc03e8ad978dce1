"""Row-level security: an authorization decision that allows only the records
matching a filter (contract 0.2's `allow-where`), from rbac grants with
`where:` and `${user}` / `${attr.NAME}` substitutions. Two users share one
collection; each sees, updates and deletes only their own records, through
the real Python client (and the JS client for reads), while an admin without
a filter sees everything. The same policy runs behind an authenticator built
against contract 0.1, beside the 0.2 rbac plugin. Prism-only: no Chroma
server has row-level security."""

from __future__ import annotations

import json
import re
import time

import chromadb
import pytest
from chromadb.config import Settings

from auth_util import FORBIDDEN, TOKEN_SERVER, plugin_dir, request
from js_util import js_reads

pytestmark = [pytest.mark.auth, pytest.mark.prism_only("row-level security")]

MEMBER_ACTIONS = [
    "tenant:get_tenant", "db:get_database", "db:list_collections", "collection:get_collection",
    "collection:get", "collection:query", "collection:count", "collection:add",
    "collection:update", "collection:upsert", "collection:delete",
]

POLICY = f"""\
roles_mapping:
  admin:
    actions: ["*"]
  member:
    actions: {json.dumps(MEMBER_ACTIONS)}
    where: {{owner: "${{user}}"}}
users:
  - id: root
    role: admin
    tokens: [root-token]
  - id: alice
    role: member
    tokens: [alice-token]
  - id: bob
    role: member
    tokens: [bob-token]
"""

# Tokens for the contract 0.1 fixture: `v01:USER:ROLE`.
V01 = {"root": "v01:root:admin", "alice": "v01:alice:member", "bob": "v01:bob:member"}
TOKENS = {"root": "root-token", "alice": "alice-token", "bob": "bob-token"}

COLLECTION = "notes"
RECORDS = {
    "a1": ("alice", [1.0, 0.0]), "a2": ("alice", [0.9, 0.1]),
    "b1": ("bob", [0.95, 0.05]), "b2": ("bob", [0.0, 1.0]), "b3": ("bob", [0.1, 0.9]),
    "n1": (None, [0.5, 0.5]),  # nobody's: only the admin sees it
}


def client(srv, token: str):
    return chromadb.HttpClient(host=srv.host, port=srv.port,
                               headers={"Authorization": f"Bearer {token}"},
                               settings=Settings(anonymized_telemetry=False))


@pytest.fixture(params=["token-0.2", "fixture-0.1"])
def shared(request, start_server, tmp_path):
    """A server whose `notes` collection holds RECORDS; returns
    (server, tokens by user)."""
    policy = tmp_path / "auth.yaml"
    policy.write_text(POLICY)
    env = {
        "CHROMA_SERVER_AUTHZ_PROVIDER": "rbac",
        "CHROMA_SERVER_AUTHZ_CONFIG_FILE": str(policy),
        "PRISM_AUTH_MAX_FAILURES": "0",
    }
    if request.param == "token-0.2":
        tokens = TOKENS
        env |= {"CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
                "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(policy)}
    else:
        tokens = V01
        plugins = plugin_dir(tmp_path / "plugins", **{"contract-v0-1.wasm": "fixtures/contract-v0-1.wasm"})
        env |= {"CHROMA_SERVER_AUTHN_PROVIDER": "contract-v0-1", "PRISM_PLUGIN_DIR": str(plugins)}
    srv = start_server(env=env)
    col = client(srv, tokens["root"]).create_collection(COLLECTION)
    ids = list(RECORDS)
    col.add(ids=ids, embeddings=[RECORDS[i][1] for i in ids], documents=[f"doc {i}" for i in ids],
            metadatas=[{"owner": o} if o else {"kind": "orphan"} for o, _ in RECORDS.values()])
    return srv, tokens


def mine(user: str) -> list:
    return sorted(i for i, (owner, _) in RECORDS.items() if owner == user)


def test_each_user_reads_only_their_own_records(shared):
    srv, tokens = shared
    for user in ("alice", "bob"):
        col = client(srv, tokens[user]).get_collection(COLLECTION)
        assert sorted(col.get()["ids"]) == mine(user), user
        assert col.count() == len(mine(user)), user
        assert sorted(col.peek(limit=100)["ids"]) == mine(user), user
        # Nearest neighbours are filtered before ranking: n_results is filled
        # from visible records only, however close the others are.
        hits = col.query(query_embeddings=[[1.0, 0.0]], n_results=3)["ids"][0]
        assert sorted(hits) == mine(user)[:3] and len(hits) == min(3, len(mine(user))), (user, hits)
        # The user's own where is ANDed with the row filter.
        assert col.get(where={"owner": "bob" if user == "alice" else "alice"})["ids"] == []
        # Ids of invisible records behave as if absent.
        assert col.get(ids=["a1", "b1", "n1"])["ids"] == [i for i in ["a1", "b1"] if i in mine(user)]
    admin = client(srv, tokens["root"]).get_collection(COLLECTION)
    assert sorted(admin.get()["ids"]) == sorted(RECORDS)
    assert admin.count() == len(RECORDS)


def test_nobody_writes_or_deletes_anothers_records(shared):
    srv, tokens = shared
    alice = client(srv, tokens["alice"]).get_collection(COLLECTION)
    admin = client(srv, tokens["root"]).get_collection(COLLECTION)
    before = admin.get(include=["documents", "metadatas", "embeddings"])

    def refused(write) -> None:
        with pytest.raises(Exception) as caught:
            write()
        assert "Forbidden" in str(caught.value) or "AuthError" in type(caught.value).__name__, caught.value

    # Adding a record owned by someone else, or by nobody.
    refused(lambda: alice.add(ids=["x1"], embeddings=[[1.0, 1.0]], metadatas=[{"owner": "bob"}]))
    refused(lambda: alice.add(ids=["x2"], embeddings=[[1.0, 1.0]]))
    # A batch with one bad record is refused whole.
    refused(lambda: alice.add(ids=["a9", "x3"], embeddings=[[1.0, 0.0], [0.0, 1.0]],
                              metadatas=[{"owner": "alice"}, {"owner": "bob"}]))
    # Updating or upserting bob's record, or giving one's own away.
    refused(lambda: alice.update(ids=["b1"], documents=["mine now"], embeddings=[[0.9, 0.0]]))
    refused(lambda: alice.upsert(ids=["b2"], embeddings=[[0.0, 1.0]], metadatas=[{"owner": "alice"}]))
    refused(lambda: alice.update(ids=["a1"], metadatas=[{"owner": "bob"}]))
    # Deletes touch only visible records: by id and by where, nothing of bob's goes.
    alice.delete(ids=["b1", "b2"])
    alice.delete(where={"owner": "bob"})
    after = admin.get(include=["documents", "metadatas", "embeddings"])
    assert after["ids"] == before["ids"]
    assert after["documents"] == before["documents"]
    assert after["metadatas"] == before["metadatas"]

    # What alice may do, she can.
    alice.add(ids=["a3"], embeddings=[[0.8, 0.2]], metadatas=[{"owner": "alice"}], documents=["new"])
    alice.update(ids=["a1"], documents=["edited"], embeddings=[[1.0, 0.0]])
    alice.upsert(ids=["a2"], embeddings=[[0.7, 0.3]], metadatas=[{"owner": "alice", "v": 2}])
    alice.delete(where={"owner": "alice"}, ids=["a3"])
    got = admin.get(ids=["a1", "a2", "a3"], include=["documents", "metadatas"])
    assert got["ids"] == ["a1", "a2"]
    assert got["documents"][0] == "edited" and got["metadatas"][1] == {"owner": "alice", "v": 2}
    bob = client(srv, tokens["bob"]).get_collection(COLLECTION)
    assert sorted(bob.get()["ids"]) == mine("bob")


def test_the_js_client_reads_the_same(shared):
    srv, tokens = shared
    for user in ("alice", "bob", "root"):
        want = sorted(RECORDS) if user == "root" else mine(user)
        got = js_reads(srv, COLLECTION, {"Authorization": f"Bearer {tokens[user]}"},
                       query=[1.0, 0.0], get_ids=["a1", "b1", "n1"])
        assert got["get_ids"] == want, (user, got)
        assert got["count"] == len(want), (user, got)
        assert got["peek_ids"] == want, (user, got)
        assert got["query_ids"] == want, (user, got)
        assert got["get_by_ids"] == [i for i in ["a1", "b1", "n1"] if i in want], (user, got)


def test_attributes_substitute_and_grants_combine(start_server, tmp_path):
    """`${attr.team}` from the identity (the token plugin's users file), a
    grant scoped to one collection, and two grants ORed."""
    policy = tmp_path / "auth.yaml"
    policy.write_text("""\
roles_mapping:
  admin:
    actions: ["*"]
  reader:
    actions: [collection:get_collection, collection:get, collection:count]
  visitor:
    actions: [tenant:get_tenant, db:get_database]
users:
  - id: root
    role: admin
    tokens: [root-token]
  - id: carol
    role: visitor
    tokens: [carol-token]
    grants:
      - role: reader
        collection: notes
        where: {team: "${user}"}
      - role: reader
        collection: notes
        where: {level: {$lte: 1}}
""")
    srv = start_server(env={"CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
                            "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(policy),
                            "CHROMA_SERVER_AUTHZ_PROVIDER": "rbac",
                            "CHROMA_SERVER_AUTHZ_CONFIG_FILE": str(policy)})
    root = client(srv, "root-token")
    for name in ("notes", "other"):
        root.create_collection(name).add(
            ids=["t", "l", "x"], embeddings=[[1.0], [2.0], [3.0]],
            metadatas=[{"team": "carol", "level": 5}, {"team": "z", "level": 1}, {"team": "z", "level": 3}])
    carol = client(srv, "carol-token")
    assert sorted(carol.get_collection("notes").get()["ids"]) == ["l", "t"]
    assert carol.get_collection("notes").count() == 2
    r = request(srv, "POST", f"/tenants/default_tenant/databases/default_database/collections/"
                f"{root.get_collection('other').id}/get", body={}, headers={"Authorization": "Bearer carol-token"})
    assert r.status_code == 403 and r.json() == FORBIDDEN


def test_bad_policies_are_refused_with_file_and_line(start_server, tmp_path):
    from auth_util import start_refused
    policy = tmp_path / "auth.yaml"
    policy.write_text("roles_mapping:\n  member:\n    actions: [collection:get]\n"
                      "    where: {owner: \"${usr}\"}\nusers:\n  - id: u\n    role: member\n    tokens: [t]\n")
    message = start_refused(start_server, {
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(policy),
        "CHROMA_SERVER_AUTHZ_PROVIDER": "rbac",
        "CHROMA_SERVER_AUTHZ_CONFIG_FILE": str(policy),
    })
    assert re.search(re.escape(str(policy)) + r".*4.*\$\{usr\}", message), message


def test_a_row_filter_that_does_not_parse_fails_closed(start_server, tmp_path):
    """A plugin's filter the engine cannot parse (here a valid-looking
    operator applied to a list) refuses the request with 503; the server
    keeps serving and other actions still work."""
    policy = tmp_path / "auth.yaml"
    policy.write_text("""\
roles_mapping:
  admin:
    actions: ["*"]
  odd:
    actions: [collection:get, collection:get_collection]
    where: {owner: {$gt: ["a", "b"]}}
users:
  - id: root
    role: admin
    tokens: [root-token]
  - id: odd
    role: odd
    tokens: [odd-token]
""")
    srv = start_server(env={"CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER,
                            "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(policy),
                            "CHROMA_SERVER_AUTHZ_PROVIDER": "rbac",
                            "CHROMA_SERVER_AUTHZ_CONFIG_FILE": str(policy)})
    col = client(srv, "root-token").create_collection("odd-rows")
    col.add(ids=["1"], embeddings=[[1.0]])
    path = f"/tenants/default_tenant/databases/default_database/collections/{col.id}"
    odd = {"Authorization": "Bearer odd-token"}
    by_name = "/tenants/default_tenant/databases/default_database/collections/odd-rows"
    assert request(srv, "GET", by_name, headers=odd).status_code == 200, "no records, no filter"
    r = request(srv, "POST", f"{path}/get", body={}, headers=odd)
    assert r.status_code == 503 and r.json()["error"] == "AuthError", r.text
    assert "row filter" in r.json()["message"]
    time.sleep(0.2)
    assert "row filter that does not parse" in srv.log_text(200000)
    assert client(srv, "root-token").get_collection("odd-rows").count() == 1


def test_the_audit_log_names_the_row_filter(start_server, tmp_path):
    policy = tmp_path / "auth.yaml"
    policy.write_text(POLICY)
    log = tmp_path / "audit.jsonl"
    srv = start_server(args=["--audit-log", str(log)], env={
        "CHROMA_SERVER_AUTHN_PROVIDER": TOKEN_SERVER, "CHROMA_SERVER_AUTHN_CREDENTIALS_FILE": str(policy),
        "CHROMA_SERVER_AUTHZ_PROVIDER": "rbac", "CHROMA_SERVER_AUTHZ_CONFIG_FILE": str(policy)})
    client(srv, "root-token").create_collection(COLLECTION).add(ids=["a1"], embeddings=[[1.0, 0.0]],
                                                                metadatas=[{"owner": "alice"}])
    assert client(srv, "alice-token").get_collection(COLLECTION).count() == 1
    deadline = time.time() + 5
    while time.time() < deadline:
        events = [json.loads(l)["fields"] for l in log.read_text().splitlines() if l.strip()]
        counts = [e for e in events if e.get("action") == "collection:count" and e["user"] == "alice"]
        if counts:
            break
        time.sleep(0.05)
    assert counts and counts[0]["decision"] == "allow", events
    assert counts[0]["reason"] == 'row filter {"owner":"alice"}', counts[0]
