"""The evaluator-versus-moto agreement check (issue 19), over the suite's own calls.

The session's sandbox server (``sandbox_server_process`` in conftest) runs with
``LEARNLAB_EVALUATION_LOG`` naming a file per pytest process (``evaluations-<worker>.jsonl`` in
the session's temp dir, worker ``main`` without xdist): ``sandbox/authorization.evaluate``
appends there each identity-policy evaluation it makes (documents, boundary, action, resource,
request context, our decision). Before the server stops, one known call (``close_recording``:
iam:GetUser in an account of its own) proves the recording still works at the end.

At the end of the session each process replays its own log through moto's own evaluator
(``IAMPolicy.is_action_permitted`` per policy, combined as moto's ``check_action_permitted``
combines them: any DENIED denies, else any PERMITTED permits; with a permissions boundary, which
moto does not know, the boundary's policies through the same evaluator and AWS's rule: both must
permit, a deny in either wins) and compares the verdicts. The terminal shows

    evaluator agreement: N evaluations recorded, K compared, E excluded (by reason), D disagreements

and the run fails (exit status 1, the first disagreements in full) when D > 0, when a line
cannot be read, or when the server ran and the closing call's evaluation is not in the log (a
recording that stopped). Under xdist each worker replays its own log and sends its counts to
the controller (``workeroutput``), which adds them up, prints the line and fails the run.

An evaluation is excluded, counted by reason and never dropped silently, where moto knowingly
departs from AWS (the same list as the corpus test, ``test_evaluator_agreement.py``), judged
against AWS's documented semantics, never against our evaluator's answer:

- ``malformed``: a document or statement moto's evaluator raises on (no Statement, a statement
  that is not an object, no Action/NotAction, a pattern that is not a string);
- ``regex``: moto reads a pattern as a regular expression and that changes the match here
  (AWS: a glob where only ``*`` and ``?`` are special);
- ``case``: moto matches actions case-sensitively and that changes the match here;
- and, for a statement whose action matches (moto's way or AWS's): ``condition`` (moto answers
  DENIED when a condition fails, and evaluates few keys), ``principal`` (a resource or trust
  policy's element), ``not-resource`` (moto ignores it), ``no-resource`` (moto PERMITS a
  statement with no Resource, even a Deny), ``effect`` (neither Allow nor Deny).

A statement whose action matches neither way decides nothing in either evaluator, so whatever
else it holds excludes nothing.
"""

import json
import os
import re
import secrets
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Verdicts, as moto's PermissionResult names them (moto is imported only when replaying: every
# pytest run loads this plugin).
PERMITTED, DENIED, NEUTRAL = "PERMITTED", "DENIED", "NEUTRAL"

ENV = "LEARNLAB_EVALUATION_LOG"
CANARY_USER = "agreement-canary"
SHOWN = 5  # disagreements printed in full
WORKER_OUTPUT = "evaluator_agreement"


@dataclass
class Recording:
    path: Path
    canary: str | None = None  # the closing call's account, once it answered
    canary_error: str | None = None


@dataclass
class Replay:
    recorded: int = 0
    compared: int = 0
    excluded: Counter = field(default_factory=Counter)
    disagreements: int = 0
    shown: list[dict] = field(default_factory=list)
    unreadable: int = 0
    canary_seen: bool = False

    def add(self, other: "Replay") -> None:
        self.recorded += other.recorded
        self.compared += other.compared
        self.excluded.update(other.excluded)
        self.disagreements += other.disagreements
        self.shown += other.shown[: SHOWN - len(self.shown)]
        self.unreadable += other.unreadable

    def as_dict(self) -> dict:
        return {
            "recorded": self.recorded,
            "compared": self.compared,
            "excluded": dict(self.excluded),
            "disagreements": self.disagreements,
            "shown": self.shown,
            "unreadable": self.unreadable,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Replay":
        return cls(**{**data, "excluded": Counter(data["excluded"])})

    def summary(self) -> str:
        excluded = sum(self.excluded.values())
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(self.excluded.items()))
        return (
            f"evaluator agreement: {self.recorded} evaluations recorded, {self.compared} "
            f"compared, {excluded} excluded ({reasons or 'none'}), "
            f"{self.disagreements} disagreements"
        )


# AWS's semantics for one pattern (IAM User Guide, "IAM JSON policy elements: Action /
# Resource"): a glob, ``*`` any run, ``?`` one character. Written here, apart from
# learnlab/lib/iam_policy.py, so that a bug there is a disagreement, not an exclusion.


def aws_matches(pattern: str, value: str, *, ignore_case: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.fullmatch(regex, value, flags) is not None


def moto_matches(pattern: str, value: str) -> bool | None:
    """moto's own matcher; None when it cannot even compile the pattern."""
    from moto.iam.access_control import IAMPolicyStatement

    try:
        return IAMPolicyStatement._match(pattern, value) is not None
    except re.error:
        return None


def _as_list(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _departure(patterns: list, value: str, *, ignore_case: bool) -> str | None:
    for pattern in patterns:
        if not isinstance(pattern, str):
            return "malformed"
        if moto_matches(pattern, value) != aws_matches(pattern, value, ignore_case=False):
            return "regex"
        if ignore_case and aws_matches(pattern, value, ignore_case=False) != aws_matches(
            pattern, value, ignore_case=True
        ):
            return "case"
    return None


def statement_exclusion(statement, action: str, resource: str) -> str | None:
    """Why moto's answer for this statement is not AWS's here (None: it is)."""
    if not isinstance(statement, dict):
        return "malformed"
    element = "NotAction" if "NotAction" in statement else "Action"
    if element not in statement:
        return "malformed"
    patterns = _as_list(statement[element])
    if reason := _departure(patterns, action, ignore_case=True):
        return reason
    matched = any(aws_matches(p, action, ignore_case=True) for p in patterns)
    if matched == (element == "NotAction"):
        return None  # the statement is not about this action, either way
    if "Condition" in statement:
        return "condition"
    if "Principal" in statement or "NotPrincipal" in statement:
        return "principal"
    if "NotResource" in statement:
        return "not-resource"
    if not statement.get("Resource"):
        return "no-resource"
    if statement.get("Effect") not in ("Allow", "Deny"):
        return "effect"
    return _departure(_as_list(statement["Resource"]), resource, ignore_case=False)


def exclusion(record: dict) -> str | None:
    """Why moto's semantics do not apply to this evaluation (None: they do)."""
    for document in record["documents"] + (record["boundary"] or []):
        statements = document.get("Statement") if isinstance(document, dict) else None
        if not isinstance(statements, dict | list):
            return "malformed"
        for statement in _as_list(statements):
            if reason := statement_exclusion(statement, record["action"], record["resource"]):
                return reason
    return None


def _moto_results(documents: list[dict], action: str, resource: str) -> set[str]:
    from moto.iam.access_control import IAMPolicy

    return {IAMPolicy(json.dumps(d)).is_action_permitted(action, resource).name for d in documents}


def moto_verdict(record: dict) -> str:
    action, resource = record["action"], record["resource"]
    results = _moto_results(record["documents"], action, resource)
    denied, permitted = DENIED in results, PERMITTED in results
    if record["boundary"] is not None:
        bounds = _moto_results(record["boundary"], action, resource)
        denied = denied or DENIED in bounds
        permitted = permitted and PERMITTED in bounds
    return DENIED if denied else PERMITTED if permitted else NEUTRAL


def our_verdict(record: dict) -> str:
    if record["explicit_deny"]:
        return DENIED
    return PERMITTED if record["allowed"] else NEUTRAL


def _readable(record) -> bool:
    return (
        isinstance(record, dict)
        and isinstance(record.get("documents"), list)
        and isinstance(record.get("boundary"), list | None)
        and isinstance(record.get("action"), str)
        and isinstance(record.get("resource"), str)
    )


def replay_lines(lines, *, canary: str | None = None) -> Replay:
    """Each recorded evaluation through moto's evaluator, against the decision we made."""
    replay = Replay()
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not _readable(record):
            replay.unreadable += 1
            continue
        replay.recorded += 1
        if canary and f":{canary}:" in record["resource"]:
            replay.canary_seen = True
        if reason := exclusion(record):
            replay.excluded[reason] += 1
            continue
        replay.compared += 1
        try:
            theirs = moto_verdict(record)
        except Exception as error:  # shown as a disagreement, never hidden
            theirs = f"moto raised {type(error).__name__}: {error}"
        ours = our_verdict(record)
        if theirs != ours:
            replay.disagreements += 1
            if len(replay.shown) < SHOWN:
                replay.shown.append({"moto": theirs, "ours": ours, "record": record})
    return replay


def replay_file(path: Path, *, canary: str | None = None) -> Replay:
    if not path.is_file():
        return Replay()  # nothing recorded (or a log that could not be written)
    with path.open(encoding="utf-8", errors="replace") as lines:
        return replay_lines(lines, canary=canary)


def problems(replay: Replay, *, server_ran: bool, canary_errors: list[str]) -> list[str]:
    """Why the check fails (empty: it holds)."""
    found = [f"the closing call to the sandbox server failed: {e}" for e in canary_errors]
    if replay.disagreements:
        found.append(f"{replay.disagreements} evaluations where our evaluator and moto's differ")
    if replay.unreadable:
        found.append(f"{replay.unreadable} lines of the evaluation log cannot be read")
    if server_ran and replay.recorded == 0:
        found.append(f"the sandbox server ran but recorded no evaluation ({ENV})")
    elif server_ran and not canary_errors and not replay.canary_seen:
        found.append("the recording stopped: the closing call's evaluation is not in the log")
    return found


# The fixture's side (tests/conftest.py)

_RECORDING = pytest.StashKey[Recording]()
_WORKERS = pytest.StashKey[list]()
_REPORT = pytest.StashKey[list]()


def recording_env(config, tmp_path_factory) -> dict:
    """The sandbox server's environment, recording into this process's log."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    path = tmp_path_factory.mktemp("evaluations") / f"evaluations-{worker}.jsonl"
    config.stash[_RECORDING] = Recording(path)
    return {**os.environ, ENV: str(path)}


def _admin(url: str, secret: str, method: str, account: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{url}/_admin/accounts/{account}",
        method=method,
        data=json.dumps(body or {}).encode(),
        headers={"X-LearnLab-Secret": secret, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def close_recording(config, url: str, secret: str) -> None:
    """One known evaluation before the server stops: iam:GetUser on a user of its own account.
    Its absence from the log means the recording stopped."""
    import boto3
    from botocore.config import Config

    recording = config.stash.get(_RECORDING, None)
    if recording is None:
        return
    account = f"9{secrets.randbelow(10**11):011d}"
    try:
        keys = _admin(url, secret, "PUT", account, {"user_name": CANARY_USER})
        iam = boto3.client(
            "iam",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=keys["access_key_id"],
            aws_secret_access_key=keys["secret_access_key"],
            config=Config(retries={"max_attempts": 1}, read_timeout=30),
        )

        def headers(request, **_):
            request.headers["X-Moto-Account-Id"] = account
            request.headers["X-LearnLab-Secret"] = secret

        iam.meta.events.register("before-sign.iam", headers)
        iam.get_user(UserName=CANARY_USER)
        _admin(url, secret, "DELETE", account)
        recording.canary = account
    except Exception as error:  # reported by the check, which fails
        recording.canary_error = f"{type(error).__name__}: {error}"


# The hooks


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """xdist's controller: a worker's counts."""
    output = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT)
    if output:
        node.config.stash.setdefault(_WORKERS, []).append(output)


@pytest.hookimpl(trylast=True)  # after the runner's teardown of session fixtures
def pytest_sessionfinish(session):
    config = session.config
    recording = config.stash.get(_RECORDING, None)
    own = None
    if recording is not None:
        replay = replay_file(recording.path, canary=recording.canary)
        own = {
            "replay": replay.as_dict(),
            "canary_seen": replay.canary_seen,
            "canary_error": recording.canary_error,
            "log": str(recording.path),
        }
    if hasattr(config, "workeroutput"):  # an xdist worker: the controller reports
        if own:
            config.workeroutput[WORKER_OUTPUT] = own
        return
    outputs = config.stash.get(_WORKERS, []) + ([own] if own else [])
    if not outputs:
        return  # no sandbox server ran
    total, errors = Replay(), []
    for output in outputs:
        total.add(Replay.from_dict(output["replay"]))
        if output["canary_error"]:
            errors.append(output["canary_error"])
    total.canary_seen = all(o["canary_seen"] or o["canary_error"] for o in outputs)
    found = problems(total, server_ran=True, canary_errors=errors)
    lines = [total.summary(), *(f"  log: {o['log']}" for o in outputs)]
    if found:
        lines += [f"evaluator agreement FAILED: {p}" for p in found]
        lines += [json.dumps(shown, sort_keys=True) for shown in total.shown]
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    config.stash[_REPORT] = lines


def pytest_terminal_summary(terminalreporter, config):
    for line in config.stash.get(_REPORT, []):
        terminalreporter.write_line(line)
