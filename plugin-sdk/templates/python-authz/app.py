"""A Prism authorization plugin: everyone may read; a team may change only
the collections named ``<team>-...`` (the team is the identity's ``team``
attribute, as the authn template sets it, else the user id); the users in
``admins`` may do anything. Replace the rules with your own.

``python -m prism_plugin_sdk.build`` writes my-authz-plugin.wasm; README.md
says how to run it.
"""

from prism_plugin_sdk import READ_ACTIONS, Settings, allow, attribute, deny, metadata, setting

# The plugin's state lives at module level: componentize-py may make a new
# Authorizer object for each call, while the module (and the instance the
# host configured) stays.
ADMINS = set()


class Authorizer:
    def metadata(self):
        return metadata(
            name="my-authz-plugin",
            kind="authz",
            version="0.1.0",
            description="everyone reads; a team writes to <team>-* collections; admins do anything",
            settings=[setting("admins", "comma-separated user ids that may do anything")],
        )

    def configure(self, config):
        ADMINS.clear()
        ADMINS.update(Settings(config).list("admins"))

    def authorize(self, identity, action, resource):
        if identity.user_id in ADMINS or action in READ_ACTIONS:
            return allow()
        team = attribute(identity, "team") or identity.user_id
        owned = (resource.collection or "").startswith(f"{team}-")
        if owned and (action.startswith("collection:") or action == "db:create_collection"):
            return allow()
        return deny(f"{team} may change only collections named {team}-* ({action})")
