"""Tenants and databases: CRUD through chromadb.AdminClient and raw HTTP, and
isolation of collections between databases and tenants."""

import uuid

import pytest
from chromadb.errors import ChromaError, InvalidArgumentError, NotFoundError

from e2e_util import assert_error, make_client

NAME_RULE = (
    "Expected a name containing 3-512 characters from [a-zA-Z0-9._-], "
    "starting and ending with a character in [a-zA-Z0-9]. Got: "
)


def test_tenant_crud(admin, http):
    admin.create_tenant("acme")
    assert admin.get_tenant("acme")["name"] == "acme"
    r = http.get("/tenants/acme")
    assert r.status_code == 200 and r.json()["name"] == "acme"

    with pytest.raises(ChromaError) as e:
        admin.create_tenant("acme")
    assert "Tenant [acme] already exists" in str(e.value)
    assert_error(
        http.post("/tenants", json={"name": "acme"}),
        409,
        "ChromaError",
        "Tenant [acme] already exists",
    )
    assert_error(
        http.post("/tenants", json={"name": "default_tenant"}),
        409,
        "ChromaError",
        "Tenant [default_tenant] already exists",
    )


def test_missing_tenant(admin, http):
    with pytest.raises(NotFoundError):
        admin.get_tenant("ghost")
    assert_error(http.get("/tenants/ghost"), 404, "NotFoundError", "Tenant [ghost] not found")


def test_tenant_name_too_short(http):
    r = http.post("/tenants", json={"name": "ab"})
    assert_error(r, 400, "InvalidArgumentError", message_re=r"^Validation error: name: ")
    assert http.get("/tenants/ab").status_code == 404


def test_database_crud(admin, http):
    admin.create_tenant("acme")
    admin.create_database("prod", tenant="acme")
    db = admin.get_database("prod", tenant="acme")
    assert db["name"] == "prod"
    assert db["tenant"] == "acme"
    uuid.UUID(str(db["id"]))

    r = http.get("/tenants/acme/databases/prod")
    assert r.status_code == 200
    assert r.json() == {"id": str(db["id"]), "name": "prod", "tenant": "acme"}

    with pytest.raises(ChromaError) as e:
        admin.create_database("prod", tenant="acme")
    assert "Database [prod] already exists" in str(e.value)
    assert_error(
        http.post("/tenants/acme/databases", json={"name": "prod"}),
        409,
        "ChromaError",
        "Database [prod] already exists",
    )
    # the same database name in another tenant is a different database
    admin.create_database("prod", tenant="default_tenant")
    other = admin.get_database("prod", tenant="default_tenant")
    assert other["id"] != db["id"]


def test_missing_database(admin, http):
    with pytest.raises(NotFoundError):
        admin.get_database("nodb", tenant="default_tenant")
    assert_error(
        http.get("/tenants/default_tenant/databases/nodb"),
        404,
        "NotFoundError",
        "Database [nodb] not found. Are you sure it exists?",
    )
    assert_error(
        http.delete("/tenants/default_tenant/databases/nodb"),
        404,
        "NotFoundError",
        "Database [nodb] not found",
    )


@pytest.mark.parametrize("name", ["ab", "-abc", "a b c", "_x_"])
def test_invalid_database_names(admin, http, name):
    r = http.post("/tenants/default_tenant/databases", json={"name": name})
    assert_error(r, 400, "InvalidArgumentError", NAME_RULE + name)
    with pytest.raises(InvalidArgumentError):
        admin.create_database(name)
    assert [d["name"] for d in admin.list_databases()] == ["default_database"]


def test_list_databases_limit_offset(admin):
    admin.create_tenant("lister")
    assert admin.list_databases(tenant="lister") == []
    for n in ["mmm", "zzz", "aaa", "ccc", "bbb"]:
        admin.create_database(n, tenant="lister")
    # Chroma lists databases ordered by name
    full = [d["name"] for d in admin.list_databases(tenant="lister")]
    assert full == ["aaa", "bbb", "ccc", "mmm", "zzz"]
    for d in admin.list_databases(tenant="lister"):
        assert d["tenant"] == "lister"
    assert [d["name"] for d in admin.list_databases(limit=2, tenant="lister")] == ["aaa", "bbb"]
    assert [d["name"] for d in admin.list_databases(limit=2, offset=1, tenant="lister")] == ["bbb", "ccc"]
    assert [d["name"] for d in admin.list_databases(offset=3, tenant="lister")] == ["mmm", "zzz"]
    assert admin.list_databases(offset=5, tenant="lister") == []
    assert admin.list_databases(limit=0, tenant="lister") == []
    # default tenant unaffected
    assert [d["name"] for d in admin.list_databases()] == ["default_database"]


def test_delete_database(admin, server, http):
    admin.create_tenant("acme")
    admin.create_database("temp", tenant="acme")
    admin.create_database("stays", tenant="acme")
    c = make_client(server, tenant="acme", database="temp")
    col = c.create_collection("inside")
    col.add(ids=["a"], embeddings=[[1.0, 2.0]])
    c2 = make_client(server, tenant="acme", database="stays")
    c2.create_collection("inside").add(ids=["b"], embeddings=[[3.0]])

    admin.delete_database("temp", tenant="acme")
    with pytest.raises(NotFoundError):
        admin.get_database("temp", tenant="acme")
    assert [d["name"] for d in admin.list_databases(tenant="acme")] == ["stays"]
    # its collections are gone with it
    assert http.get("/tenants/acme/databases/temp/collections").json() == []
    assert_error(http.post(f"/tenants/acme/databases/temp/collections/{col.id}/get", json={}), 404, "NotFoundError")
    # the sibling database is untouched
    assert c2.get_collection("inside").get()["ids"] == ["b"]
    # deleting again: 404
    with pytest.raises(NotFoundError):
        admin.delete_database("temp", tenant="acme")
    # the name can be reused and starts empty
    admin.create_database("temp", tenant="acme")
    c3 = make_client(server, tenant="acme", database="temp")
    assert c3.list_collections() == []


def test_collection_in_missing_database_is_rejected(http):
    r = http.post("/tenants/default_tenant/databases/nodb/collections", json={"name": "abc"})
    assert_error(r, 400, "InvalidArgumentError", "Database [nodb] does not exist")
    assert http.get("/tenants/default_tenant/databases/nodb/collections").json() == []
    assert http.get("/tenants/default_tenant/databases/nodb/collections_count").json() == 0


@pytest.mark.chroma_bug("creating a database in a tenant that does not exist is accepted (200)")
def test_database_in_missing_tenant_is_404(http):
    r = http.post("/tenants/ghost/databases", json={"name": "dbx"})
    assert_error(r, 404, "NotFoundError", "Tenant [ghost] not found")


def test_client_for_missing_tenant_or_database_fails(server, admin):
    with pytest.raises(Exception):
        make_client(server, tenant="ghost-tenant", database="default_database")
    admin.create_tenant("real")
    with pytest.raises(Exception):
        make_client(server, tenant="real", database="ghost-db")


def test_same_collection_name_in_two_databases(admin, server):
    admin.create_tenant("acme")
    admin.create_database("one", tenant="acme")
    admin.create_database("two", tenant="acme")
    c1 = make_client(server, tenant="acme", database="one")
    c2 = make_client(server, tenant="acme", database="two")
    a = c1.create_collection("shared")
    b = c2.create_collection("shared", metadata={"db": "two"})
    assert a.id != b.id
    a.add(ids=["x", "y"], embeddings=[[1.0, 0.0], [0.0, 1.0]], documents=["one-x", "one-y"])
    b.add(ids=["x"], embeddings=[[5.0, 5.0, 5.0]], documents=["two-x"])

    assert c1.get_collection("shared").get()["documents"] == ["one-x", "one-y"]
    assert c2.get_collection("shared").get()["documents"] == ["two-x"]
    assert c1.get_collection("shared").metadata is None
    assert c2.get_collection("shared").metadata == {"db": "two"}
    assert a.count() == 2 and b.count() == 1
    res = a.query(query_embeddings=[[1.0, 0.0]], n_results=5)
    assert res["ids"] == [["x", "y"]]

    # deleting one leaves the other
    c1.delete_collection("shared")
    assert c2.get_collection("shared").count() == 1
    with pytest.raises(NotFoundError):
        c1.get_collection("shared")


def test_same_names_in_two_tenants(admin, server, client):
    admin.create_tenant("tenant-a")
    admin.create_tenant("tenant-b")
    admin.create_database("dbx", tenant="tenant-a")
    admin.create_database("dbx", tenant="tenant-b")
    ca = make_client(server, tenant="tenant-a", database="dbx")
    cb = make_client(server, tenant="tenant-b", database="dbx")
    ca.create_collection("items").add(ids=["a"], embeddings=[[1.0]], metadatas=[{"t": "a"}])
    cb.create_collection("items").add(ids=["b"], embeddings=[[2.0]], metadatas=[{"t": "b"}])
    assert ca.get_collection("items").get()["metadatas"] == [{"t": "a"}]
    assert cb.get_collection("items").get()["metadatas"] == [{"t": "b"}]
    assert [c.name for c in ca.list_collections()] == ["items"]
    assert ca.count_collections() == 1
    # the default database sees none of them
    assert client.list_collections() == []
    assert client.count_collections() == 0
