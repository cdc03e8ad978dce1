"""The example's logic, run natively: ``python -m unittest discover tests``
(after a build, which writes the bindings this imports to build/bindings)."""

import calendar
import sys
import unittest
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT / "build" / "bindings"), str(PROJECT)]

from componentize_py_types import Err  # noqa: E402
from wit_world.imports import types  # noqa: E402

import app  # noqa: E402

POLICY = (PROJECT / "policy.example.yaml").read_text()
# Wednesday 2026-12-02.
WED = calendar.timegm((2026, 12, 2, 0, 0, 0))


def configure(text):
    app.Authorizer().configure(types.Config(settings=[types.Setting("policy", text)], files=[]))


def who(user, *, role=None, hour=12, minute=0, address="10.1.2.3", day=WED):
    attrs = [("role", role)] if role else []
    attrs.append(("prism.received-at", str(day + hour * 3600 + minute * 60)))
    if address:
        attrs.append(("prism.client-address", address))
    return types.Identity(user, None, None, attrs)


def decide(identity, action):
    resource = types.Resource("default_tenant", "default_database", "docs", None)
    return app.Authorizer().authorize(identity, action, resource)


class Policy(unittest.TestCase):
    def setUp(self):
        configure(POLICY)

    def test_admins_do_anything_anywhere(self):
        self.assertIsInstance(decide(who("alice", address="203.0.113.9", hour=3), "system:reset"), types.Decision_Allow)

    def test_editors_write_in_office_hours_from_the_office(self):
        self.assertIsInstance(decide(who("bob", role="editor"), "collection:add"), types.Decision_Allow)
        self.assertIsInstance(decide(who("bob", role="editor", hour=18), "collection:add"), types.Decision_Deny)
        self.assertIsInstance(decide(who("bob", role="editor", address="203.0.113.9"), "collection:add"), types.Decision_Deny)
        saturday = WED + 3 * 86400
        self.assertIsInstance(decide(who("bob", role="editor", day=saturday), "collection:add"), types.Decision_Deny)
        self.assertIsInstance(decide(who("carol"), "collection:add"), types.Decision_Deny)

    def test_deletes_are_denied_at_night_across_midnight(self):
        for hour in (22, 23, 0, 5):
            decision = decide(who("bob", role="editor", hour=hour), "collection:delete")
            self.assertIsInstance(decision, types.Decision_Deny, hour)
        self.assertIn("no-deletes-at-night", decide(who("bob", hour=23), "collection:delete").value)

    def test_reads_need_an_office_address(self):
        self.assertIsInstance(decide(who("carol", address="::1"), "collection:query"), types.Decision_Allow)
        self.assertIsInstance(decide(who("carol", address="203.0.113.9"), "collection:query"), types.Decision_Deny)
        self.assertIsInstance(decide(who("carol", address=None), "collection:query"), types.Decision_Deny)

    def test_mistakes_are_refused_with_their_lines(self):
        cases = [
            ("rules:\n  - name: a\n    users: [x]\n    allow: [read]\n    hours: 9-5\n", 2, "hours"),
            ("rules:\n  - name: a\n    users: [x]\n    allow: [read]\n  - name: b\n    allow: [read]\n", 5, "whom"),
            ("rules:\n  - users: [x]\n    allow: [read]\n    networks: [10.0.0.300/8]\n", 2, "network"),
            ("rules:\n  - users: [x]\n    allow: [read]\n    dayz: [mon]\n", 2, "unknown field"),
            ("rules:\n  - users: [x]\n    allow: [read\n", 4, "not YAML"),
        ]
        for text, line, says in cases:
            with self.assertRaises(Err, msg=text) as refused:
                configure(text)
            self.assertEqual(refused.exception.value.line, line, refused.exception.value.message)
            self.assertIn(says, refused.exception.value.message)


if __name__ == "__main__":
    unittest.main()
