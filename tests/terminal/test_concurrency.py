"""One learner's terminal cannot hold up another's: commands run side by side (no process-wide
lock), each with its own output, and a command stops at its line's deadline, not after it."""

import threading
import time

import pytest
from django.db import connections

from learnlab.terminal import interpreter
from learnlab.terminal.services import shell_open, shell_run

pytestmark = pytest.mark.django_db(transaction=True)  # the lines run in threads of their own

# An instance that never exists: the waiter polls it until it gives up (WAITER_ATTEMPTS polls,
# WAITER_DELAY apart, about 2 s in all), sleeping in between.
LONG_WAIT = "aws ec2 wait instance-exists --instance-ids i-0123456789abcdef0"


def _in_thread(shell, line: str) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run():
        started = time.monotonic()
        try:
            outcome["result"] = shell_run(shell=shell, line=line)
        finally:
            outcome["seconds"] = time.monotonic() - started
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_a_learners_quick_command_does_not_wait_for_anothers_long_one(make_sandbox):
    slow, quick = make_sandbox(), make_sandbox()
    slow_shell, quick_shell = shell_open(sandbox=slow), shell_open(sandbox=quick)
    shell_run(shell=quick_shell, line="aws sts get-caller-identity")  # models loaded, warm

    waiting, waited = _in_thread(slow_shell, LONG_WAIT)
    time.sleep(0.4)  # the waiter is polling by now
    started = time.monotonic()
    result = shell_run(shell=quick_shell, line="aws sts get-caller-identity")
    seconds = time.monotonic() - started
    still_waiting = waiting.is_alive()
    waiting.join(30)

    assert result.exit_status == 0, result.output
    assert seconds < 1.0, f"get-caller-identity took {seconds:.2f} s behind another's waiter"
    assert still_waiting, "the long command ended first: nothing was measured"
    # Each command's output is its own: nothing of the waiter in B's, nothing of B's in A's.
    assert quick.account_id in result.output and "Waiter" not in result.output
    assert "Waiter InstanceExists failed" in waited["result"].output
    assert quick.account_id not in waited["result"].output


def test_a_command_that_would_run_past_the_line_limit_stops_at_it(make_sandbox, monkeypatch):
    monkeypatch.setattr(interpreter, "LINE_SECONDS", 1)
    shell = shell_open(sandbox=make_sandbox())
    shell_run(shell=shell, line="aws ec2 describe-instances")  # the EC2 model loaded, warm
    started = time.monotonic()
    result = shell_run(shell=shell, line=f"{LONG_WAIT}; echo after")
    seconds = time.monotonic() - started

    assert seconds < 1.7, f"the line ran {seconds:.2f} s past a 1 s limit"
    assert "more than 1 s" in result.output, result.output
    assert "after" not in result.output  # the rest of the line did not run
    assert result.exit_status != 0


def test_a_paginated_command_stops_at_the_line_limit(make_sandbox, monkeypatch):
    from learnlab.gate.client import aws_client
    from learnlab.lib.iam_policy import EC2_TRUST_POLICY

    sandbox = make_sandbox()
    iam = aws_client("iam", sandbox=sandbox)
    for number in range(40):
        iam.create_role(RoleName=f"role-{number}", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    shell = shell_open(sandbox=sandbox)
    monkeypatch.setattr(interpreter, "LINE_SECONDS", 0.3)  # 40 pages take longer than that
    result = shell_run(shell=shell, line="aws iam list-roles --page-size 1")

    assert "more than 0.3 s" in result.output, result.output
    assert "role-39" not in result.output  # it did not page on to the end


def test_a_second_line_in_the_same_terminal_is_refused_at_once_while_one_runs(make_sandbox):
    sandbox = make_sandbox()
    waiting, _ = _in_thread(shell_open(sandbox=sandbox), LONG_WAIT)
    time.sleep(0.4)
    started = time.monotonic()
    result = shell_run(shell=shell_open(sandbox=sandbox), line="aws sts get-caller-identity")
    seconds = time.monotonic() - started
    waiting.join(30)

    assert seconds < 0.5, f"the second line waited {seconds:.2f} s"
    assert result.exit_status == 1 and "still running in this terminal" in result.output
    shell = shell_open(sandbox=sandbox)
    assert "Waiter InstanceExists failed" in shell.scrollback[-1]["output"]  # the first's record
    assert shell_run(shell=shell, line="aws sts get-caller-identity").exit_status == 0
