"""The instance page: the cached-credentials demo, and who may see it."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from learnlab.imds.credentials import credentials_current, credentials_tick
from learnlab.imds.models import InstanceCredentials
from learnlab.sandbox.models import AccessKey, Sandbox
from tests.helpers import launch_with_role

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def browser_with_instance(client, sandbox_server):
    client.get("/sandbox/panel")  # a session, a learner and a sandbox
    sandbox = Sandbox.objects.get()
    instance_id = launch_with_role(sandbox)
    return client, sandbox, instance_id


def test_the_app_that_cached_its_keys_fails_and_the_one_that_rereads_works(browser_with_instance):
    client, sandbox, instance_id = browser_with_instance
    first = credentials_current(sandbox=sandbox, instance_id=instance_id, role_name="app")
    client.post(f"/sandbox/instances/{instance_id}/demo")
    panel = client.get(f"/sandbox/instances/{instance_id}/credentials").content.decode()
    assert panel.count("works as arn:aws:sts::") == 2

    InstanceCredentials.objects.update(renew_at=timezone.now() - timedelta(seconds=1))
    assert credentials_tick()["renewed"] == 1
    AccessKey.objects.filter(pk=first.access_key_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    panel = client.get(f"/sandbox/instances/{instance_id}/credentials").content.decode()
    assert "ExpiredToken: The security token included in the request is expired" in panel
    assert panel.count("works as arn:aws:sts::") == 1


def test_the_instance_page_is_only_for_its_learner(browser_with_instance):
    _client, _sandbox, instance_id = browser_with_instance
    stranger = Client()
    assert stranger.get(f"/sandbox/instances/{instance_id}/").status_code == 404
    assert stranger.get(f"/sandbox/instances/{instance_id}/credentials").status_code == 404
    assert stranger.get("/sandbox/instances/i-not-hex/").status_code == 404
