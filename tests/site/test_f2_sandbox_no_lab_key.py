"""A learner's sandbox with no lab key (it cannot be shown or rebuilt until it has one): the
sandbox page's panel, reset, clock and /sandbox/env say Reconnecting, never a 500."""

import pytest
from django.test import Client

from learnlab.sandbox.models import AccessKey, Sandbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def keyless(sandbox_server):
    browser = Client()
    assert 'data-testid="account-id"' in browser.get("/sandbox/panel").content.decode()
    sandbox = Sandbox.objects.get()
    sandbox.access_keys.filter(kind=AccessKey.Kind.LAB_USER).delete()
    return browser, sandbox


def _says_reconnecting(response) -> None:
    assert response.status_code == 200
    assert 'data-testid="reconnecting"' in response.content.decode()


def test_the_panel_of_a_ready_sandbox_with_no_lab_key_says_reconnecting(keyless):
    browser, _sandbox = keyless
    _says_reconnecting(browser.get("/sandbox/panel"))
    env = browser.get("/sandbox/env")
    assert env.status_code == 503 and env.content.decode().startswith("# Reconnecting")


def test_the_panel_of_a_dropped_sandbox_with_no_lab_key_says_reconnecting(keyless):
    browser, sandbox = keyless
    Sandbox.objects.filter(pk=sandbox.pk).update(status=Sandbox.Status.DROPPED)
    _says_reconnecting(browser.get("/sandbox/panel"))  # its rebuild needs the key it lacks
    _says_reconnecting(browser.post("/sandbox/token", {"action": "revoke"}, HTTP_HX_REQUEST="true"))


def test_reset_and_clock_of_a_sandbox_with_no_lab_key_say_reconnecting(keyless):
    browser, sandbox = keyless
    Sandbox.objects.filter(pk=sandbox.pk).update(status=Sandbox.Status.DROPPED)
    for path, data in (("/sandbox/reset", {}), ("/sandbox/clock", {"speed": "60"})):
        response = browser.post(path, data, follow=True)
        assert response.status_code == 200, path
        assert "Reconnecting to your sandbox" in response.content.decode(), path
