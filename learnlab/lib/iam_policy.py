"""Evaluate IAM role trust policies the way STS does.

Pure functions with no Django and no moto, so the gate (deciding ``AssumeRole``), the sandbox
server (replacing moto's trust check, which crashes on service principals) and the metadata
service (can EC2 assume this role?) share one evaluator, ``explain_trust``, which also gives
the statement-by-statement trace the explain pages show. Conditions are not evaluated (listed).
"""

import json
import re
from dataclasses import dataclass, field

SESSION_ARN = re.compile(r"^arn:aws:sts::(\d{12}):assumed-role/([^/]+)/[^/]+$")
IAM_ARN = re.compile(r"^arn:aws:iam::(\d{12}):")


def parse_policy(document) -> dict:
    """A policy document as a dict; moto stores them as JSON strings, possibly URL-decoded."""
    if isinstance(document, dict):
        return document
    parsed = json.loads(document)
    if not isinstance(parsed, dict):
        raise ValueError("a policy document must be a JSON object")
    return parsed


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _fold(text: str) -> str:
    """``text`` with each character lower-cased where that keeps it one character (so a
    ``?`` still stands for exactly one character of the folded text)."""
    if text.isascii():
        return text.lower()
    return "".join(low if len(low := c.lower()) == 1 else c for c in text)


def wildcard_match(pattern: str, text: str, *, ignore_case: bool) -> bool:
    """IAM's wildcards: ``*`` any run of characters (none included), ``?`` exactly one;
    nothing else is special (so ``[`` is a bracket, not fnmatch's character class). The one
    matcher of actions, resources and ``StringLike``/``ArnLike`` values for every evaluator
    and lint in LearnLab.

    Greedy two pointers with one backtrack point (the latest ``*``): a mismatch after a star
    retries with that star eating one more character, and earlier stars never need
    revisiting, so the worst case is O(len(pattern) * len(text)) and usually linear. (A
    regular expression of ``.*`` and ``.`` backtracks exponentially on ``*?*?*?#``.)"""
    if ignore_case:
        pattern, text = _fold(pattern), _fold(text)
    if "?" not in pattern:
        return _stars_match(pattern.split("*"), text)
    p = t = 0
    star = -1  # index in pattern of the latest star, -1 before any
    resume = 0  # where in text that star's run ends now
    plen, tlen = len(pattern), len(text)
    while t < tlen:
        char = pattern[p] if p < plen else ""
        if char == "*":
            star, resume = p, t
            p += 1
        elif char and (char == "?" or char == text[t]):
            p += 1
            t += 1
        elif star >= 0:
            resume += 1
            p, t = star + 1, resume
        else:
            return False
    while p < plen and pattern[p] == "*":
        p += 1
    return p == plen


def _stars_match(pieces: list[str], text: str) -> bool:
    """A pattern of literals and ``*`` only (``pieces``: it split on ``*``): the first piece
    starts the text, the last ends it, and the middle ones occur in order between, each at its
    leftmost place (leftmost never loses a match). Linear, at ``str.find``'s speed."""
    if len(pieces) == 1:
        return pieces[0] == text
    first, *middle, last = pieces
    if len(text) < len(first) + len(last) or not text.startswith(first):
        return False
    if not text.endswith(last):
        return False
    at, end = len(first), len(text) - len(last)
    for piece in middle:
        found = text.find(piece, at, end)
        if found < 0:
            return False
        at = found + len(piece)
    return True


def glob_matches(patterns, value: str, *, ignore_case: bool) -> bool:
    """Whether any of ``patterns`` (a string or a list; non-strings never match) matches."""
    return any(
        isinstance(p, str) and wildcard_match(p, value, ignore_case=ignore_case)
        for p in _as_list(patterns)
    )


def action_matches(patterns, action: str) -> bool:
    """IAM action patterns are case-insensitive globs (``sts:*``, ``*``)."""
    return glob_matches(patterns, action, ignore_case=True)


def aws_principal_matches(pattern: str, principal_arn: str) -> bool:
    """Does an ``AWS`` principal entry (account id, root ARN, user/role ARN, ``*``) match?"""
    if pattern == "*":
        return True
    session = SESSION_ARN.fullmatch(principal_arn)
    account = session.group(1) if session else _account_of(principal_arn)
    if pattern in (account, f"arn:aws:iam::{account}:root"):
        return True
    if session and pattern == f"arn:aws:iam::{account}:role/{session.group(2)}":
        return True
    return pattern == principal_arn


def _account_of(arn: str) -> str | None:
    match = IAM_ARN.match(arn)
    return match.group(1) if match else None


def _principal_check(statement: dict, principal_arn, service) -> tuple[bool, str]:
    """Whether the statement's Principal names the caller, and why (for a trace)."""
    principal = statement.get("Principal")
    caller = service or principal_arn
    if principal == "*":
        return True, "Principal is * (anyone)"
    if not isinstance(principal, dict):
        return False, "the statement has no Principal object"
    if service is not None:
        services = [str(s) for s in _as_list(principal.get("Service"))]
        if service in services:
            return True, f"Principal.Service names {service}"
        named = ", ".join(services) or "no service"
        others = [k for k in principal if k != "Service"]
        extra = f" (and {', '.join(others)} principals)" if others else ""
        return False, f"Principal.Service names {named}{extra}, not {caller}"
    entries = [str(p) for p in _as_list(principal.get("AWS"))]
    if any(aws_principal_matches(p, principal_arn or "") for p in entries):
        return True, f"Principal.AWS names {caller} (or its account)"
    named = ", ".join(entries) or "no AWS principal"
    others = [
        f"{kind} {', '.join(str(v) for v in _as_list(value))}"
        for kind, value in principal.items()
        if kind != "AWS"
    ]
    extra = f"; it names {'; '.join(others)} instead" if others else ""
    return False, f"Principal.AWS names {named}, not {caller}{extra}"


def _principal_matches(statement: dict, principal_arn: str | None, service: str | None) -> bool:
    return _principal_check(statement, principal_arn, service)[0]


@dataclass
class TrustStatement:
    """One statement of a trust policy, evaluated for one caller: what a trace shows."""

    index: int
    sid: str
    effect: str
    statement: dict
    action_matched: bool
    principal_matched: bool
    reason: str
    # Conditions are not evaluated for trust (moto's STS ignores them too): listed only.
    has_condition: bool = False

    @property
    def applies(self) -> bool:
        return self.action_matched and self.principal_matched


@dataclass
class TrustDecision:
    """Every statement of a trust policy for one caller, and STS's verdict."""

    allowed: bool = False
    explicit_deny: bool = False
    malformed: str = ""  # why the document could not be read, if it could not
    statements: list[TrustStatement] = field(default_factory=list)

    def as_dict(self) -> dict:
        """As JSON, for a stored trace and the explain pages."""
        return {
            "verdict": self.verdict,
            "allowed": self.allowed,
            "malformed": self.malformed,
            "statements": [
                {
                    "index": s.index,
                    "sid": s.sid,
                    "effect": s.effect,
                    "statement": s.statement,
                    "action_matched": s.action_matched,
                    "principal_matched": s.principal_matched,
                    "applies": s.applies,
                    "why": s.reason,
                    "has_condition": s.has_condition,
                }
                for s in self.statements
            ],
        }

    @property
    def verdict(self) -> str:
        if self.malformed:
            return "not readable"
        if self.explicit_deny:
            return "explicit deny"
        return "allowed" if self.allowed else "no allow"


def explain_trust(
    document,
    *,
    principal_arn: str | None = None,
    service: str | None = None,
    action="sts:AssumeRole",
) -> TrustDecision:
    """Evaluate a trust policy statement by statement for a principal (an ARN, or a service
    such as ``ec2.amazonaws.com``) performing ``action`` (IAM User Guide, "Policy evaluation
    logic": some Allow must match, and any matching Deny wins)."""
    decision = TrustDecision()
    try:
        policy = parse_policy(document)
    except (ValueError, TypeError) as error:
        decision.malformed = str(error) or "not JSON"
        return decision
    for index, statement in enumerate(_as_list(policy.get("Statement"))):
        if not isinstance(statement, dict):
            decision.statements.append(
                TrustStatement(index, "", "", {}, False, False, "not a JSON object")
            )
            continue
        patterns = statement.get("Action", statement.get("NotAction"))
        matched = action_matches(patterns, action)
        if "NotAction" in statement and "Action" not in statement:
            matched = not matched
        principal_ok, why = _principal_check(statement, principal_arn, service)
        if not matched:
            why = f"Action {_shown(patterns)} does not cover {action}"
        effect = str(statement.get("Effect", ""))
        entry = TrustStatement(
            index,
            str(statement.get("Sid", "")),
            effect,
            statement,
            matched,
            principal_ok,
            why,
            has_condition="Condition" in statement,
        )
        decision.statements.append(entry)
        if not entry.applies:
            continue
        if effect == "Deny":
            decision.explicit_deny = True
        elif effect == "Allow":
            decision.allowed = True
    decision.allowed = decision.allowed and not decision.explicit_deny
    return decision


def _shown(patterns) -> str:
    return ", ".join(str(p) for p in _as_list(patterns)) or "(none)"


def trust_allows(
    document,
    *,
    principal_arn: str | None = None,
    service: str | None = None,
    action="sts:AssumeRole",
) -> bool:
    """True when the trust policy lets this principal (an ARN, or a service such as
    ``ec2.amazonaws.com``) perform ``action``: some Allow matches and no Deny does
    (``explain_trust``'s verdict, so a trace shows what decided)."""
    return explain_trust(
        document, principal_arn=principal_arn, service=service, action=action
    ).allowed


EC2_SERVICE = "ec2.amazonaws.com"  # the principal EC2 assumes instance roles as
EC2_TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": EC2_SERVICE},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
"""The trust policy that lets EC2 assume a role: what an instance role needs (EP03)."""
