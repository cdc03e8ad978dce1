"""A Prism authentication plugin: callers send ``X-Team-Key: <key>`` and are
the team the key belongs to. Replace the logic with your own.

``python -m prism_plugin_sdk.build`` writes my-authn-plugin.wasm; README.md
says how to run it.
"""

from prism_plugin_sdk import (
    Settings,
    bad_credentials,
    constant_time_equal,
    file_setting,
    header,
    identity,
    metadata,
    no_credentials,
)

# The plugin's state lives at module level: componentize-py may make a new
# Authenticator object for each call, while the module (and the instance
# the host configured) stays.
TEAMS = []


class Authenticator:
    def metadata(self):
        return metadata(
            name="my-authn-plugin",
            kind="authn",
            version="0.1.0",
            description="one shared key per team, in the X-Team-Key header",
            settings=[file_setting("keys-file", "lines of team:key")],
            # The answer depends on this header only, so Prism may cache it.
            cache_key_headers=["x-team-key"],
        )

    def configure(self, config):
        # The file's contents (the host read it), or the inline setting
        # `keys` in tests.
        source = Settings(config).require_text("keys", "keys-file")
        parsed = []
        for line, text in source.lines():
            team, colon, key = (part.strip() for part in text.partition(":"))
            if not colon or not team or not key:
                raise source.error(line, "expected team:key")
            parsed.append((team, key))
        TEAMS[:] = parsed

    def authenticate(self, request):
        key = header(request, "x-team-key")
        if key is None:
            raise no_credentials()
        # Compare with every key, so the time taken does not say which matched.
        found = None
        for team, expected in TEAMS:
            if constant_time_equal(key, expected) and found is None:
                found = team
        if found is None:
            raise bad_credentials()
        return identity(found, attributes={"team": found})
