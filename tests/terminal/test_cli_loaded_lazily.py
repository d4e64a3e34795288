"""The AWS CLI (awscli, its plugins and docutils) is loaded by the first ``aws`` command or
completion a process runs, not by every process that sets Django up: the task cluster's, the
supervisor and web workers that never open a terminal do not pay for it (issue 16, memory)."""

import subprocess
import sys

from learnlab.site.launch import ROOT

PROBE = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "learnlab.settings")
import django
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns  # every view module, the terminal's included
import learnlab.terminal.services, learnlab.terminal.completion
print("after setup:", sorted(m for m in ("awscli", "docutils") if m in sys.modules))
from learnlab.terminal.completion import aws_completions
assert "create-role" in aws_completions("aws iam create-r"), aws_completions("aws iam create-r")
print("after a completion:", sorted(m for m in ("awscli",) if m in sys.modules))
"""


def test_awscli_is_imported_by_the_first_completion_not_by_setup(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={"LEARNLAB_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert "after setup: []" in lines, result.stdout
    assert "after a completion: ['awscli']" in lines, result.stdout
