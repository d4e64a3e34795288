"""While the sandbox server is away, ``eval "$(curl -s .../sandbox/env?...)"`` tells the learner
so on stderr, in ASCII, and fails (it used to be a silent shell comment, with an ellipsis, and
the eval succeeded). Done for real: curl against the live server, the output run by bash."""

import subprocess

import pytest

from learnlab.learners.models import Learner
from learnlab.learners.shell_token import shell_token_create
from learnlab.sandbox.models import Sandbox
from learnlab.sandbox.services import sandbox_for_learner
from tests.helpers import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token_url(live_server, sandbox_server):
    learner = Learner.objects.create()
    sandbox_for_learner(learner=learner)
    return f"{live_server.url}/sandbox/env?token={shell_token_create(learner=learner)}"


def _eval(url: str) -> subprocess.CompletedProcess:
    script = 'eval "$(curl -s "$1")" && echo evaluated-fine'
    return subprocess.run(["bash", "-c", script, "bash", url], capture_output=True, timeout=60)


@pytest.mark.parametrize(
    "query, lost",
    [("", True), ("&instance=i-0123456789abcdef0", False)],
    ids=["own-shell-of-a-lost-sandbox", "instance-shell"],
)
def test_a_reconnecting_sandbox_is_said_on_stderr_and_fails(token_url, settings, query, lost):
    if lost:  # its server restarted: the next use rebuilds it, which needs the server
        Sandbox.objects.update(status=Sandbox.Status.LOST)
    settings.LEARNLAB_SANDBOX_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings.LEARNLAB_SANDBOX_SERVERS = 1
    url = token_url + query
    status = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url], capture_output=True, text=True
    ).stdout
    body = subprocess.run(["curl", "-s", url], capture_output=True).stdout

    shell = _eval(url)

    assert status == "503"
    assert body.isascii(), body
    assert shell.returncode != 0
    assert shell.stdout == b""
    assert b"LearnLab: your sandbox is reconnecting" in shell.stderr
    assert b"run this again in a few seconds" in shell.stderr


def test_a_ready_sandbox_still_evaluates(token_url):
    shell = subprocess.run(
        ["bash", "-c", 'eval "$(curl -s "$1")" && echo "$AWS_DEFAULT_REGION"', "bash", token_url],
        capture_output=True,
        timeout=60,
    )
    assert shell.returncode == 0 and shell.stdout == b"us-east-1\n", shell.stderr
