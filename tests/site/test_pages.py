"""Pages: every link works, errors are friendly, CSRF and a strict CSP everywhere."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from learnlab.ticker.services import lease_acquire

pytestmark = pytest.mark.django_db


def test_the_home_page_says_what_learnlab_teaches_and_links_the_ways_in(client):
    page = client.get("/").content.decode()
    assert "instance profile" in page
    for link in ("/lab/", "/sandbox/", "/quiz/", "/class/"):
        assert f'href="{link}"' in page


def test_no_link_on_the_site_is_dead(client, sandbox_server):
    seen, queue = set(), ["/"]
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        if path.startswith("/static/"):
            assert finders.find(path.removeprefix("/static/")), path
            continue
        seen.add(path)
        response = client.get(path, follow=True)  # /lab/ opens the lab; /class/teach/ signs in
        assert response.status_code == 200, path
        if "text/html" in response["Content-Type"]:
            queue += re.findall(r'(?:href|hx-get)="(/[^"#]*)"', response.content.decode())
    assert {"/", "/lab/", "/sandbox/", "/quiz/", "/class/", "/sandbox/env"} <= seen


def test_every_page_carries_a_strict_content_security_policy(client):
    for path in ("/", "/sandbox/", "/lab/", "/does-not-exist"):
        policy = client.get(path)["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "object-src 'none'" in policy


def test_pages_have_no_inline_scripts_or_styles(client):
    page = client.get("/sandbox/").content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert "<style" not in page and " style=" not in page


def test_a_post_without_the_csrf_token_is_refused_kindly(sandbox_server):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/sandbox/reset")
    assert response.status_code == 403
    assert b"Your form had expired" in response.content


def test_an_unknown_page_is_a_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert b"Page not found" in response.content


def test_healthz_is_ok_when_all_three_parts_are(client, sandbox_server):
    lease_acquire(holder="test")
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["database"]["ok"] and body["sandbox_server"]["ok"] and body["task_cluster"]["ok"]
    assert body["task_cluster"]["last_heartbeat_age_s"] < 10


def test_healthz_is_503_without_a_task_cluster_heartbeat(client, sandbox_server):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["task_cluster"] == {
        "ok": False,
        "last_heartbeat_age_s": None,
        "error": "no heartbeat yet",
    }


def test_healthz_is_503_when_the_sandbox_server_is_down(client, settings):
    from tests.helpers import free_port

    settings.LEARNLAB_SANDBOX_URL = f"http://127.0.0.1:{free_port()}"
    lease_acquire(holder="test")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["sandbox_server"]["ok"] is False


def test_the_sandbox_page_explains_a_down_sandbox_server(client, settings):
    from tests.helpers import free_port

    settings.LEARNLAB_SANDBOX_URL = f"http://127.0.0.1:{free_port()}"
    panel = client.get("/sandbox/panel", headers={"HX-Request": "true"})
    assert panel.status_code == 200
    assert b'data-testid="reconnecting"' in panel.content
    assert b'hx-get="/sandbox/panel" hx-trigger="every 2s"' in panel.content
    env = client.get("/sandbox/env")
    assert env.status_code == 503
    assert env.content.startswith(b"echo 'LearnLab: your sandbox is reconnecting")
    assert env.content.endswith(b" >&2; false\n")  # eval "$(curl ...)" tells and stops


def test_the_env_endpoint_gives_shell_exports(client, sandbox_server):
    client.get("/sandbox/panel")
    response = client.get("/sandbox/env")
    assert response["Content-Type"].startswith("text/plain")
    names = [line.split("=")[0] for line in response.content.decode().splitlines()]
    assert names == [
        "unset AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE",
        "export AWS_ENDPOINT_URL",
        "export AWS_ACCESS_KEY_ID",
        "export AWS_SECRET_ACCESS_KEY",
        "export AWS_DEFAULT_REGION",
    ]
    assert "export AWS_DEFAULT_REGION=us-east-1" in response.content.decode()


def test_reset_through_the_page_empties_the_sandbox(client, sandbox_server):
    from learnlab.gate.client import aws_client
    from learnlab.lib.iam_policy import EC2_TRUST_POLICY
    from learnlab.sandbox.models import Sandbox

    client.get("/sandbox/panel")
    sandbox = Sandbox.objects.get()
    aws_client("iam", sandbox=sandbox).create_role(
        RoleName="r", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    response = client.post("/sandbox/reset", follow=True)
    assert b"Your sandbox is empty again" in response.content
    assert aws_client("iam", sandbox=sandbox).list_roles()["Roles"] == []


def test_the_sandbox_panel_shows_the_keys_even_when_ec2_does_not_answer(
    client, sandbox_server, settings
):
    from tests.helpers import free_port

    client.get("/sandbox/panel")  # provisioned while the sandbox server is up
    settings.LEARNLAB_SANDBOX_URL = f"http://127.0.0.1:{free_port()}"
    panel = client.get("/sandbox/panel", headers={"HX-Request": "true"})
    assert panel.status_code == 200
    assert b"export AWS_ACCESS_KEY_ID=" in panel.content
