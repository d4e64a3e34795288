"""/sandbox/env is run as ``eval "$(curl -s .../sandbox/env?...)"``: a refusal must reach the
learner's terminal then, not vanish as a shell comment. Every refusal is one ``echo`` to
stderr, the unknown-instance one included."""

import subprocess

import pytest

pytestmark = pytest.mark.django_db


def test_an_unknown_instance_is_said_on_stderr_when_evaluated(client, sandbox_server):
    client.get("/sandbox/panel")  # a session, a learner and a sandbox
    response = client.get("/sandbox/env?instance=i-0123456789abcdef0")
    assert response.status_code == 404
    shell = subprocess.run(
        ["bash", "-c", 'eval "$(cat)"'],
        input=response.content.decode(),
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert shell.stdout == ""
    assert "There is no instance" in shell.stderr
