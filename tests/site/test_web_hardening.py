"""Web-tier findings of the security review (issue 12): anonymous sandboxes per client, key pages
kept out of caches, owner-only data files."""

import os
import stat
import subprocess
import sys

import pytest
from django.test import Client

from learnlab.sandbox.models import Sandbox
from tests.helpers import ROOT

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_client_gets_a_few_new_anonymous_sandboxes_then_a_page_saying_to_wait(
    sandbox_server, settings
):
    settings.LEARNLAB_NEW_LEARNERS_PER_CLIENT = 5
    for _ in range(5):  # a cookie-less client: a new learner, and sandbox, each time
        assert Client(REMOTE_ADDR="203.0.113.20").get("/sandbox/panel").status_code == 200
    assert Sandbox.objects.count() == 5

    refused = Client(REMOTE_ADDR="203.0.113.20").get("/sandbox/panel", HTTP_HX_REQUEST="true")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many new lab sandboxes from your address" in refused.content.decode()
    page = Client(REMOTE_ADDR="203.0.113.20").get("/sandbox/panel")  # a full page, not a fragment
    assert page.status_code == 429 and "Try again in 10 minutes" in page.content.decode()
    assert Sandbox.objects.count() == 5

    # Another client, and a learner who already has a sandbox, are not affected.
    assert Client(REMOTE_ADDR="203.0.113.21").get("/sandbox/panel").status_code == 200
    assert Sandbox.objects.count() == 6


@pytest.fixture
def browser(sandbox_server):
    client = Client()
    assert client.get("/sandbox/panel").status_code == 200  # a learner with a sandbox
    return client


@pytest.mark.parametrize("path", ["/sandbox/", "/sandbox/panel", "/sandbox/env"])
def test_pages_that_show_keys_are_never_stored(browser, path):
    response = browser.get(path)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_instance_credentials_pages_are_never_stored(browser):
    from learnlab.gate.client import aws_client
    from learnlab.learners.models import Learner

    sandbox = Sandbox.objects.get(learner=Learner.objects.get())
    instance_id = aws_client("ec2", sandbox=sandbox).run_instances(
        ImageId="ami-0453ec754f44f9a4a", InstanceType="t3.micro", MinCount=1, MaxCount=1
    )["Instances"][0]["InstanceId"]
    for page in ("", "credentials"):
        path = f"/sandbox/instances/{instance_id}/{page}"
        response = browser.get(path)
        assert response.status_code == 200, path
        assert "no-store" in response["Cache-Control"], path


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_data_folder_and_its_secrets_are_owner_only(tmp_path):
    data = tmp_path / "data"
    env = {**os.environ, "LEARNLAB_DATA_DIR": str(data)}
    env.pop("DATABASE_URL", None)
    env.pop("SECRET_KEY", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity=0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    assert _mode(data) == 0o700
    assert _mode(data / "learnlab.sqlite3") == 0o600
    assert _mode(data / "secret_key") == 0o600
