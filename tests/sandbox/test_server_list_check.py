"""A bad sandbox server list is said when the stack starts, not as a learner's 500."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _check(**env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_bad_server_list_fails_the_system_check_in_words():
    result = _check(LEARNLAB_SANDBOX_URLS="ftp://10.0.0.5:5055")
    assert result.returncode != 0
    assert "learnlab.sandbox.E001" in result.stderr
    assert "http://" in result.stderr  # says what a good entry looks like


def test_a_good_server_list_passes():
    result = _check(LEARNLAB_SANDBOX_URLS="a=http://10.0.0.5:5055,b=http://10.0.0.6:5055")
    assert result.returncode == 0, result.stderr
