"""The replay behind the evaluator agreement check (tests/agreement.py) can fail: a planted
disagreement is found, each exclusion is counted by its reason, a recording that stopped is a
failure, and the lines the real evaluator writes are the lines the replay reads."""

import json
import os
import subprocess
import sys

from tests import agreement
from tests.helpers import ROOT

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"


def record(statements, action="iam:GetRole", resource=ROLE, *, allowed, deny=False, boundary=None):
    return {
        "documents": [{"Version": "2012-10-17", "Statement": statements}],
        "boundary": boundary,
        "action": action,
        "resource": resource,
        "context": {"aws:requestedregion": ["us-east-1"]},
        "allowed": allowed,
        "explicit_deny": deny,
    }


ALLOW_ALL = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
DENY_ROLE = [*ALLOW_ALL, {"Effect": "Deny", "Action": "iam:GetRole", "Resource": ROLE}]


def lines(*records) -> list[str]:
    return [json.dumps(r) for r in records]


def test_a_flipped_decision_is_one_disagreement_shown_in_full():
    right = record(ALLOW_ALL, allowed=True)
    flipped = record(DENY_ROLE, allowed=True)  # moto: an explicit deny; "ours" says allowed
    replay = agreement.replay_lines(lines(right, flipped))
    assert (replay.recorded, replay.compared, replay.disagreements) == (2, 2, 1)
    assert replay.shown == [{"moto": "DENIED", "ours": "PERMITTED", "record": flipped}]
    problems = agreement.problems(replay, server_ran=False, canary_errors=[])
    assert problems == ["1 evaluations where our evaluator and moto's differ"]


def test_agreeing_decisions_of_each_kind_are_no_disagreement():
    neutral = record([{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}], allowed=False)
    bounded = record(ALLOW_ALL, allowed=False, boundary=[{"Statement": []}])
    replay = agreement.replay_lines(
        lines(
            record(ALLOW_ALL, allowed=True),
            record(DENY_ROLE, allowed=False, deny=True),
            neutral,
            bounded,
        )
    )
    assert (replay.compared, replay.disagreements, dict(replay.excluded)) == (4, 0, {})
    flipped = {**bounded, "allowed": True}  # the boundary allows nothing: moto says NEUTRAL
    assert agreement.replay_lines(lines(flipped)).disagreements == 1


def test_each_exclusion_is_counted_by_its_reason_and_never_compared():
    allow = {"Effect": "Allow", "Resource": "*"}
    excluded = {
        "condition": [{**allow, "Action": "iam:*", "Condition": {"Bool": {"aws:x": "true"}}}],
        "case": [{**allow, "Action": "iam:getrole"}],
        "regex": [{**allow, "Action": "iam:Get.ole"}],
        "no-resource": [{"Effect": "Deny", "Action": "iam:GetRole"}],
        "not-resource": [{"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::*"}],
        "principal": [{**allow, "Action": "*", "Principal": {"AWS": "*"}}],
        "effect": [{**allow, "Action": "*", "Effect": "Maybe"}],
        "malformed": ["not a statement"],
    }
    # Flipped decisions everywhere: an exclusion is never compared, so never a disagreement.
    records = [record(s, allowed=False, deny=True) for s in excluded.values()]
    replay = agreement.replay_lines(lines(*records))
    assert dict(replay.excluded) == dict.fromkeys(excluded, 1)
    assert (replay.recorded, replay.compared, replay.disagreements) == (8, 0, 0)
    summary = replay.summary()
    assert "8 evaluations recorded, 0 compared, 8 excluded (case 1, condition 1" in summary


def test_a_statement_about_another_action_excludes_nothing():
    """Its Condition decides nothing in either evaluator, so the evaluation is compared."""
    other = {"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {}}}
    replay = agreement.replay_lines(lines(record([*ALLOW_ALL, other], allowed=False)))
    assert (replay.compared, replay.disagreements) == (1, 1)


def test_a_pattern_whose_regex_reading_changes_nothing_is_compared():
    dotted = [{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::lab-bucket/notes.txt"}]
    same = record(dotted, "s3:GetObject", "arn:aws:s3:::lab-bucket/notes.txt", allowed=True)
    differs = record(dotted, "s3:GetObject", "arn:aws:s3:::lab-bucket/notesXtxt", allowed=False)
    replay = agreement.replay_lines(lines(same, differs))
    assert (replay.compared, dict(replay.excluded), replay.disagreements) == (1, {"regex": 1}, 0)


def test_unreadable_lines_and_a_silent_recording_fail():
    replay = agreement.replay_lines(["{not json", ""])
    assert (replay.recorded, replay.unreadable) == (0, 1)
    problems = agreement.problems(replay, server_ran=True, canary_errors=[])
    assert "1 lines of the evaluation log cannot be read" in problems
    assert f"the sandbox server ran but recorded no evaluation ({agreement.ENV})" in problems
    some = agreement.replay_lines(lines(record(ALLOW_ALL, allowed=True)), canary="999999999999")
    assert agreement.problems(some, server_ran=True, canary_errors=[]) == [
        "the recording stopped: the closing call's evaluation is not in the log"
    ]
    canary = record(ALLOW_ALL, resource="arn:aws:iam::999999999999:user/x", allowed=True)
    seen = agreement.replay_lines(lines(canary), canary="999999999999")
    assert agreement.problems(seen, server_ran=True, canary_errors=[]) == []


def test_the_evaluators_own_lines_replay_with_no_disagreement(tmp_path):
    """The real evaluator, with the variable set as the sandbox server has it, writes lines the
    replay reads: one an evaluation, each with our decision."""
    log = tmp_path / "evaluations.jsonl"
    script = f"""
from learnlab.sandbox.authorization import evaluate
allow = {{"Statement": [{{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}}]}}
deny = {{"Statement": [{{"Effect": "Deny", "Action": "iam:GetRole", "Resource": "{ROLE}"}}]}}
evaluate([allow], "iam:GetRole", "{ROLE}", {{}})
evaluate([allow, deny], "iam:GetRole", "{ROLE}", {{}})
evaluate([allow], "ec2:RunInstances", "*", {{}}, boundary=[allow])
"""
    env = {**os.environ, agreement.ENV: str(log), "DJANGO_SETTINGS_MODULE": "learnlab.settings"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    written = log.read_text().splitlines()
    assert len(written) == 3
    verdicts = [agreement.our_verdict(json.loads(line)) for line in written]
    assert verdicts == ["PERMITTED", "DENIED", "NEUTRAL"]
    replay = agreement.replay_file(log)
    assert (replay.recorded, replay.compared, replay.disagreements) == (3, 3, 0)
