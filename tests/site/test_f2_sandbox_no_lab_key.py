"""A learner's sandbox that lost its lab key: the next page that needs it builds the sandbox
again from its recorded calls, and its lab user gets a new key (before, a ready sandbox said
Reconnecting for ever and a dropped one could not be rebuilt). Never a 500."""

import pytest
from django.test import Client

from learnlab.sandbox.models import AccessKey, Sandbox

pytestmark = pytest.mark.django_db


@pytest.fixture
def keyless(sandbox_server):
    browser = Client()
    assert 'data-testid="account-id"' in browser.get("/sandbox/panel").content.decode()
    sandbox = Sandbox.objects.get()
    old = sandbox.lab_key().access_key_id
    sandbox.access_keys.filter(kind=AccessKey.Kind.LAB_USER).delete()
    return browser, sandbox, old


def _new_key(sandbox: Sandbox, old: str) -> str:
    sandbox.refresh_from_db()
    assert sandbox.status == Sandbox.Status.READY
    key = sandbox.lab_key().access_key_id
    assert key != old
    return key


def test_a_ready_sandbox_with_no_lab_key_gets_a_new_one(keyless):
    browser, sandbox, old = keyless
    panel = browser.get("/sandbox/panel").content.decode()
    assert 'data-testid="account-id"' in panel and sandbox.account_id in panel
    key = _new_key(sandbox, old)
    assert key in panel
    env = browser.get("/sandbox/env")
    assert env.status_code == 200 and f"AWS_ACCESS_KEY_ID={key}" in env.content.decode()


def test_a_dropped_sandbox_with_no_lab_key_is_rebuilt_with_a_new_one(keyless):
    browser, sandbox, old = keyless
    Sandbox.objects.filter(pk=sandbox.pk).update(status=Sandbox.Status.DROPPED)
    assert 'data-testid="account-id"' in browser.get("/sandbox/panel").content.decode()
    _new_key(sandbox, old)
    revoke = browser.post("/sandbox/token", {"action": "revoke"}, HTTP_HX_REQUEST="true")
    assert revoke.status_code == 200


def test_reset_and_clock_of_a_sandbox_with_no_lab_key_work(keyless):
    browser, sandbox, _old = keyless
    Sandbox.objects.filter(pk=sandbox.pk).update(status=Sandbox.Status.DROPPED)
    for path, data in (("/sandbox/reset", {}), ("/sandbox/clock", {"speed": "60"})):
        response = browser.post(path, data, follow=True)
        assert response.status_code == 200, path
        assert "Reconnecting to your sandbox" not in response.content.decode(), path


def test_a_ready_sandbox_costs_one_read_on_every_page(sandbox_server):
    """sandbox_for_learner runs on every page: whether the lab key is there comes with the
    sandbox's own row, not as a query of its own."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from learnlab.sandbox.services import sandbox_for_learner

    Client().get("/sandbox/panel")
    sandbox = Sandbox.objects.select_related("learner").get()
    with CaptureQueriesContext(connection) as queries:
        assert sandbox_for_learner(learner=sandbox.learner).pk == sandbox.pk
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().startswith("SELECT")]
    assert len(reads) == 1, reads
