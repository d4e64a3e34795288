"""The worker stopped and restarted: renewals pause, the page says so, and it catches up."""

import json
import signal
import time

import pytest
from django.conf import settings as django_settings
from django_q.tasks import async_task

from learnlab.imds.models import InstanceCredentials
from learnlab.learners.selectors import SESSION_KEY
from tests.helpers import start_task_cluster, stop_task_cluster

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
CREDENTIALS = "/latest/meta-data/iam/security-credentials/s3-reader"


def _wait_for(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return False


def test_a_killed_worker_pauses_renewal_and_catches_up_when_back(
    sandbox_server, settings, curl, client, lab
):
    settings.LEARNLAB_CLOCK_SPEED = 360  # renew every 10 s, live 60 s
    first = json.loads(curl(CREDENTIALS)[1])["AccessKeyId"]
    cluster = start_task_cluster(sandbox_server, LEARNLAB_CLOCK_SPEED="360")
    try:
        async_task("learnlab.ticker.services.clock_run", seconds=120)
        assert _wait_for(lambda: json.loads(curl(CREDENTIALS)[1])["AccessKeyId"] != first, 25)
    finally:
        stop_task_cluster(cluster, signal.SIGKILL)

    # Down: the current set comes due, nothing renews it, and the page says why.
    issued = InstanceCredentials.objects.count()
    current = InstanceCredentials.objects.get(superseded_at=None)
    time.sleep(max(0.0, current.renew_at.timestamp() - time.time()) + 11)
    assert InstanceCredentials.objects.count() == issued
    panel_url = f"/sandbox/instances/{lab['instance_id']}/credentials"
    assert client.get(panel_url).status_code == 404  # another learner sees nothing of it
    session = client.session  # now as the sandbox's own learner
    session[SESSION_KEY] = str(lab["sandbox"].learner_id)
    session.save()
    client.cookies[django_settings.SESSION_COOKIE_NAME] = session.session_key
    assert b"The credential worker is not running" in client.get(panel_url).content

    cluster = start_task_cluster(sandbox_server, LEARNLAB_CLOCK_SPEED="360")
    try:
        async_task("learnlab.ticker.services.clock_run", seconds=30)
        # Back: the overdue set is renewed on the first tick.
        assert _wait_for(lambda: InstanceCredentials.objects.count() > issued, 15)
        newest = InstanceCredentials.objects.latest("issued_at")
        assert newest.issued_at < current.expires_at  # never left without valid credentials
    finally:
        stop_task_cluster(cluster)
