"""The plugin's logic, run natively: ``python -m unittest`` (after a build,
which writes the bindings this imports to build/bindings)."""

import sys
import unittest
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT / "build" / "bindings"), str(PROJECT)]

from wit_world.imports import types  # noqa: E402

import app  # noqa: E402

app.Authorizer().configure(types.Config(settings=[types.Setting("admins", "root")], files=[]))
ALICE = types.Identity("alice", None, None, [("team", "search")])


def on(collection):
    return types.Resource("default_tenant", "default_database", collection, None)


class TeamCollections(unittest.TestCase):
    def test_a_team_writes_its_own_collections_and_reads_all(self):
        decide = app.Authorizer().authorize
        self.assertIsInstance(decide(ALICE, "collection:add", on("search-docs")), types.Decision_Allow)
        self.assertIsInstance(decide(ALICE, "collection:query", on("ads-docs")), types.Decision_Allow)
        self.assertIsInstance(decide(ALICE, "collection:add", on("ads-docs")), types.Decision_Deny)

    def test_admins_do_anything(self):
        root = types.Identity("root", None, None, [])
        self.assertIsInstance(app.Authorizer().authorize(root, "collection:delete", on("ads-docs")), types.Decision_Allow)


if __name__ == "__main__":
    unittest.main()
