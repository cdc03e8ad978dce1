"""The plugin's logic, run natively: ``python -m unittest`` (after a build,
which writes the bindings this imports to build/bindings)."""

import sys
import unittest
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT / "build" / "bindings"), str(PROJECT)]

from componentize_py_types import Err  # noqa: E402
from wit_world.imports import types  # noqa: E402

import app  # noqa: E402


def configure(keys):
    app.Authenticator().configure(types.Config(settings=[types.Setting("keys", keys)], files=[]))


def request(*headers):
    return types.HttpRequest("GET", "/api/v2/auth/identity", list(headers), None, None, 0)


class TeamKeys(unittest.TestCase):
    def test_a_key_is_its_team(self):
        configure("search:k1\nads:k2\n")
        who = app.Authenticator().authenticate(request(("x-team-key", "k2")))
        self.assertEqual(who.user_id, "ads")
        self.assertEqual(who.attributes, [("team", "ads")])

    def test_a_wrong_key_or_none_is_refused(self):
        configure("search:k1\n")
        with self.assertRaises(Err) as wrong:
            app.Authenticator().authenticate(request(("x-team-key", "nope")))
        self.assertIsInstance(wrong.exception.value, types.AuthnError_BadCredentials)
        with self.assertRaises(Err) as none:
            app.Authenticator().authenticate(request())
        self.assertIsInstance(none.exception.value, types.AuthnError_NoCredentials)

    def test_a_bad_line_is_refused_with_its_number(self):
        with self.assertRaises(Err) as bad:
            configure("search:k1\n\nno-colon\n")
        self.assertEqual((bad.exception.value.line, bad.exception.value.message), (3, "expected team:key"))


if __name__ == "__main__":
    unittest.main()
