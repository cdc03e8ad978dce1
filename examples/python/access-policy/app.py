"""An authorization plugin that decides by who, what, when and from where,
by the rules of a YAML policy (policy.example.yaml shows every field).

Each rule names whom it is for (``users``, ``roles``: ``*`` for anyone), the
actions it allows (``allow``) or denies (``deny``): Chroma's action names,
``read`` (every action that changes nothing), ``write`` (every other one) or
``*``; and, optionally, when and from where it applies: ``days`` (mon..sun),
``hours`` (``HH:MM-HH:MM`` UTC, wrapping past midnight when the end is
earlier), ``networks`` (CIDR ranges, IPv4 or IPv6). The first rule that
matches decides; no match denies.

The time and the client's address come from the host, as the identity
attributes ``prism.received-at`` and ``prism.client-address``; a request
whose address is unknown matches no rule with ``networks``.
"""

import datetime
import ipaddress

import yaml

from prism_plugin_sdk import (
    READ_ACTIONS,
    Settings,
    allow,
    attribute,
    attributes,
    deny,
    file_setting,
    metadata,
)

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
RULE_KEYS = {"name", "users", "roles", "allow", "deny", "days", "hours", "networks"}

# The plugin's state lives at module level: componentize-py may make a new
# Authorizer object for each call.
RULES = []


class LineLoader(yaml.SafeLoader):
    """Safe YAML that remembers the line of every mapping."""

    def construct_mapping(self, node, deep=False):
        mapping = super().construct_mapping(node, deep=deep)
        mapping["__line__"] = node.start_mark.line + 1
        return mapping


class Rule:
    def __init__(self, spec, line, fail):
        unknown = set(spec) - RULE_KEYS - {"__line__"}
        if unknown:
            raise fail(line, f"unknown field {sorted(unknown)[0]!r}; a rule has {', '.join(sorted(RULE_KEYS))}")
        self.name = str(spec.get("name", f"rule at line {line}"))
        if ("allow" in spec) == ("deny" in spec):
            raise fail(line, f"rule {self.name!r}: give exactly one of allow and deny")
        self.effect = "allow" if "allow" in spec else "deny"
        self.actions = set(strings(spec[self.effect], f"{self.effect}", line, fail))
        for action in self.actions - {"*", "read", "write"}:
            if ":" not in action:
                raise fail(line, f"rule {self.name!r}: {action!r} is not an action, read, write or *")
        self.users = set(strings(spec.get("users", []), "users", line, fail))
        self.roles = set(strings(spec.get("roles", []), "roles", line, fail))
        if not self.users and not self.roles:
            raise fail(line, f"rule {self.name!r}: say whom it is for (users or roles; '*' for anyone)")
        self.days = None
        if "days" in spec:
            days = [d.lower()[:3] for d in strings(spec["days"], "days", line, fail)]
            bad = [d for d in days if d not in DAYS]
            if bad:
                raise fail(line, f"rule {self.name!r}: {bad[0]!r} is not a day (mon..sun)")
            self.days = {DAYS.index(d) for d in days}
        self.hours = None
        if "hours" in spec:
            self.hours = hours(str(spec["hours"]), self.name, line, fail)
        self.networks = None
        if "networks" in spec:
            self.networks = []
            for text in strings(spec["networks"], "networks", line, fail):
                try:
                    self.networks.append(ipaddress.ip_network(text, strict=False))
                except ValueError:
                    raise fail(line, f"rule {self.name!r}: {text!r} is not a network (10.0.0.0/8, ::1/128)")

    def applies(self, identity, action, when, address):
        if "*" not in self.users and identity.user_id not in self.users:
            if "*" not in self.roles and not self.roles.intersection(attributes(identity, "role")):
                return False
        if not ("*" in self.actions or action in self.actions
                or ("read" in self.actions and action in READ_ACTIONS)
                or ("write" in self.actions and action not in READ_ACTIONS)):
            return False
        if self.days is not None and (when is None or when.weekday() not in self.days):
            return False
        if self.hours is not None:
            if when is None:
                return False
            start, end = self.hours
            minute = when.hour * 60 + when.minute
            inside = start <= minute < end if start < end else (minute >= start or minute < end)
            if not inside:
                return False
        if self.networks is not None:
            if address is None or not any(address in net for net in self.networks if net.version == address.version):
                return False
        return True


def strings(value, field, line, fail):
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in items):
        raise fail(line, f"{field}: expected a list of names")
    return [str(v) for v in items]


def hours(text, name, line, fail):
    try:
        start, end = (part.strip() for part in text.split("-"))
        minutes = []
        for part in (start, end):
            h, m = part.split(":")
            h, m = int(h), int(m)
            if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
                raise ValueError
            minutes.append(h * 60 + m)
    except ValueError:
        raise fail(line, f"rule {name!r}: hours {text!r}: write HH:MM-HH:MM (UTC)")
    if minutes[0] == minutes[1]:
        raise fail(line, f"rule {name!r}: hours {text!r} is an empty window")
    return minutes[0], minutes[1]


class Authorizer:
    def metadata(self):
        return metadata(
            name="access-policy",
            kind="authz",
            version="0.1.0",
            description="rules by user or role, action, day, hour (UTC) and network, from a YAML policy",
            settings=[file_setting("policy-file", "the YAML policy (rules: [...])")],
        )

    def configure(self, config):
        source = Settings(config).require_text("policy", "policy-file")
        try:
            document = yaml.load(source.text, Loader=LineLoader)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            raise source.error(mark.line + 1 if mark else None, f"not YAML: {getattr(e, 'problem', None) or e}")
        if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
            raise source.error(1, "expected a mapping with a list under rules:")
        rules = []
        for spec in document["rules"]:
            if not isinstance(spec, dict):
                raise source.error(document["__line__"], "every rule is a mapping (name:, users:, allow:, ...)")
            rules.append(Rule(spec, spec["__line__"], source.error))
        RULES[:] = rules

    def authorize(self, identity, action, resource):
        received = attribute(identity, "prism.received-at")
        when = datetime.datetime.fromtimestamp(int(received), datetime.timezone.utc) if received else None
        raw = attribute(identity, "prism.client-address")
        try:
            address = ipaddress.ip_address(raw) if raw else None
        except ValueError:
            address = None
        for rule in RULES:
            if rule.applies(identity, action, when, address):
                if rule.effect == "allow":
                    return allow()
                return deny(f"rule {rule.name!r} denies {action}")
        at = when.strftime("%a %H:%M UTC") if when else "an unknown time"
        return deny(f"no rule allows {identity.user_id} {action} at {at} from {raw or 'an unknown address'}")
