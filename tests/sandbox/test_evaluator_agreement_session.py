"""The evaluator agreement check (tests/agreement.py) over a whole pytest session: an inner
pytest run with the suite's own conftest and its real sandbox server, with and without xdist.
A clean run passes and prints its counts; a planted disagreement and a recording that stopped
each fail the run, with the reason printed."""

import json
import os
import subprocess
import sys

from tests import agreement
from tests.helpers import ROOT

INNER_TEST = """
import json
import os

from tests import agreement

FLIPPED = {flipped}


def test_a_session_with_the_sandbox_server(sandbox_server_process, request):
    path = request.config.stash[agreement._RECORDING].path
    if os.environ.get("AGREEMENT_MODE") == "planted":
        with path.open("a") as log:
            log.write(json.dumps(FLIPPED) + "\\n")
    if os.environ.get("AGREEMENT_MODE") == "stopped":
        path.mkdir()  # the server's writes fail from now on: the recording stops, silently
"""
FLIPPED = {
    "documents": [{"Statement": [{"Effect": "Deny", "Action": "iam:*", "Resource": "*"}]}],
    "boundary": None,
    "action": "iam:GetRole",
    "resource": "arn:aws:iam::123456789012:role/app",
    "context": {},
    "allowed": True,
    "explicit_deny": False,
}


def inner_pytest(tmp_path, mode: str, *args: str, files: int = 1) -> subprocess.CompletedProcess:
    for n in range(files):
        (tmp_path / f"test_inner_{n}.py").write_text(INNER_TEST.format(flipped=repr(FLIPPED)))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "learnlab.settings",
        "AGREEMENT_MODE": mode,
    }
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop(agreement.ENV, None)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
    return subprocess.run(
        [*command, "-p", "tests.conftest", f"--basetemp={tmp_path / 'base'}", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_clean_session_passes_and_counts_the_closing_call(tmp_path):
    result = inner_pytest(tmp_path, "clean")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "evaluator agreement: 1 evaluations recorded, 1 compared, 0 excluded (none), "
        "0 disagreements" in result.stdout
    )
    assert "evaluations-main.jsonl" in result.stdout


def test_a_planted_disagreement_fails_the_run_under_xdist(tmp_path):
    """Each worker replays its own log; the controller adds them up and fails the run."""
    result = inner_pytest(tmp_path, "planted", "-n", "2", "--dist", "loadfile", files=2)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 passed" in result.stdout  # the tests passed: the check alone fails the run
    assert "4 evaluations recorded, 4 compared, 0 excluded (none), 2 disagreements" in (
        result.stdout
    )
    assert "evaluations-gw0.jsonl" in result.stdout
    assert "evaluations-gw1.jsonl" in result.stdout
    assert "FAILED: 2 evaluations where our evaluator and moto's differ" in result.stdout
    shown = [line for line in result.stdout.splitlines() if line.startswith('{"moto"')]
    assert len(shown) == 2
    assert json.loads(shown[0]) == {"moto": "DENIED", "ours": "PERMITTED", "record": FLIPPED}


def test_a_recording_that_stopped_fails_the_run(tmp_path):
    result = inner_pytest(tmp_path, "stopped")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "evaluator agreement: 0 evaluations recorded" in result.stdout
    assert "FAILED: the sandbox server ran but recorded no evaluation" in result.stdout
