"""Your own terminal reaches your own sandbox: real bash, real curl and the real AWS CLI (the
venv's ``aws``) run the personal line from the sandbox page against a live server.

Fidelity: the instance lines follow the AWS CLI User Guide's "Environment variables to configure
the AWS CLI" (cli-configure-envvars.html: AWS_EC2_METADATA_SERVICE_ENDPOINT, e.g.
``http://169.254.169.254``, no trailing slash; AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE) and
its credential precedence (cli-chap-authentication.html / botocore credentials.py: environment
and shared files before the instance metadata service), which is why they unset and point away
what would come first.
"""

import os
import re
import subprocess

import pytest
from django.test import Client

from learnlab.learners.models import Learner
from learnlab.sandbox.models import Sandbox
from tests.conftest import VENV_BIN
from tests.helpers import launch_with_role

pytestmark = pytest.mark.django_db(transaction=True)
CODE = "curl -s -o /dev/null -w '%{http_code} '"  # a URL's status code only


def _bash(script: str, home) -> subprocess.CompletedProcess:
    """A learner's own shell: bash with the venv's aws first on PATH, their own HOME."""
    env = {"PATH": f"{VENV_BIN}:{os.environ['PATH']}", "HOME": str(home), "LANG": "C.UTF-8"}
    return subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=90
    )


def _make_line(browser: Client, live_server) -> str:
    page = browser.post("/sandbox/token", {"action": "new"})
    assert page.status_code == 200
    token = re.search(r"\?token=(llsh_[\w-]+)", page.content.decode()).group(1)
    return f"{live_server.url}/sandbox/env?token={token}"


@pytest.fixture
def browser(sandbox_server, fresh_cache):
    browser = Client()
    browser.get("/sandbox/panel")  # the browser's learner and sandbox, as the page makes them
    return browser


def test_the_personal_line_brings_a_real_shell_into_the_browsers_sandbox(
    browser, live_server, tmp_path
):
    account = re.search(
        r'data-testid="account-id">(\d{12})<', browser.get("/sandbox/panel").content.decode()
    ).group(1)
    url = _make_line(browser, live_server)
    learners = Learner.objects.count()
    # A shell with leftovers from real AWS work: a stale token and a profile this machine lacks.
    result = _bash(
        "export AWS_SESSION_TOKEN=stale AWS_PROFILE=work\n"
        f"eval \"$(curl -s '{url}')\"\n"
        "aws sts get-caller-identity --query Account --output text",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == account
    assert Learner.objects.count() == learners  # no new learner, no new sandbox

    browser.post("/sandbox/token", {"action": "revoke"})
    refused = _bash(
        f"curl -s -o /dev/null -w '%{{http_code}}' '{url}'; echo; eval \"$(curl -s '{url}')\"",
        tmp_path,
    )
    assert refused.stdout.splitlines()[0] == "403"
    assert "this terminal URL is not valid" in refused.stderr


def test_a_new_line_replaces_the_old_one(browser, live_server, tmp_path):
    first = _make_line(browser, live_server)
    second = _make_line(browser, live_server)
    codes = _bash(f"for u in '{first}' '{second}'; do {CODE} \"$u\"; done", tmp_path).stdout
    assert codes.split() == ["403", "200"]


def test_a_curl_without_cookie_or_token_is_refused_and_creates_nothing(
    sandbox_server, live_server, tmp_path, fresh_cache
):
    result = _bash(f"curl -s -w '\\n%{{http_code}}' '{live_server.url}/sandbox/env'", tmp_path)
    body, status = result.stdout.rsplit("\n", 1)
    assert status == "403"
    assert "carries no cookie and no token" in body and "/sandbox/" in body
    assert "AWS_ACCESS_KEY_ID" not in body
    assert Learner.objects.count() == 0 and Sandbox.objects.count() == 0


def test_wrong_tokens_are_throttled_per_client(
    sandbox_server, live_server, tmp_path, fresh_cache, settings
):
    settings.LEARNLAB_SHELL_TOKEN_FAILURES_PER_CLIENT = 5
    urls = " ".join(f"'{live_server.url}/sandbox/env?token=llsh_guess{n}'" for n in range(6))
    codes = _bash(f'for u in {urls}; do {CODE} "$u"; done', tmp_path).stdout.split()
    assert codes == ["403"] * 5 + ["429"]


def test_one_token_used_too_often_is_throttled(browser, live_server, tmp_path, settings):
    settings.LEARNLAB_SHELL_TOKEN_USES = 2
    url = _make_line(browser, live_server)
    codes = _bash(f"for n in 1 2 3; do {CODE} '{url}'; done", tmp_path).stdout.split()
    assert codes == ["200", "200", "429"]


def test_the_instance_lines_beat_the_learners_own_credentials(browser, live_server, tmp_path):
    sandbox = Sandbox.objects.get()
    instance_id = launch_with_role(sandbox, name="own-shell")
    url = _make_line(browser, live_server) + f"&instance={instance_id}"
    # The learner's own ~/.aws and exported keys, which on their machine come first.
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text(
        "[default]\naws_access_key_id = AKIAOWNKEY000000000\naws_secret_access_key = own\n"
    )
    lines = _bash(f"curl -s '{url}'", tmp_path).stdout
    endpoint = re.search(r"AWS_EC2_METADATA_SERVICE_ENDPOINT=(\S+)", lines).group(1)
    assert not endpoint.rstrip("'").endswith("/")  # as AWS documents it
    assert lines.startswith("unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN")
    result = _bash(
        "export AWS_ACCESS_KEY_ID=AKIAOWNKEY000000000 AWS_SECRET_ACCESS_KEY=own "
        "AWS_PROFILE=default\n"
        f"eval \"$(curl -s '{url}')\"\n"
        "aws sts get-caller-identity --query Arn --output text\n"
        'TOKEN=$(curl -s -X PUT "$AWS_EC2_METADATA_SERVICE_ENDPOINT/latest/api/token" '
        '-H "X-aws-ec2-metadata-token-ttl-seconds: 60")\n'
        'curl -s -H "X-aws-ec2-metadata-token: $TOKEN" '
        '"$AWS_EC2_METADATA_SERVICE_ENDPOINT/latest/meta-data/instance-id"',
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    arn, fetched_id = result.stdout.split()
    assert arn == f"arn:aws:sts::{sandbox.account_id}:assumed-role/own-shell/{instance_id}"
    assert fetched_id == instance_id
