"""After the profile is detached (or the instance stopped), the credentials page tells the story
AWS tells (issue 15.2): no profile, renewal stopped, the last set counted down to its own
Expiration, and both demo apps failing after it.

AWS: "If you disassociate the instance profile, the instance no longer receives credentials";
credentials already issued stay valid until their Expiration (EC2 User Guide,
iam-roles-for-amazon-ec2.md; IAM User Guide, troubleshoot_iam-ec2.md: with no profile the
``iam`` subtree of the metadata is absent).
"""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from learnlab.gate.client import aws_client
from learnlab.imds.credentials import credentials_issue, credentials_tick
from learnlab.imds.models import InstanceCredentials
from learnlab.sandbox.models import Sandbox
from tests.helpers import launch_with_role

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
NO_CREDENTIALS_YET = "No credentials yet"


@pytest.fixture
def browser_with_instance(client, sandbox_server):
    client.get("/sandbox/panel")  # a session, a learner and a sandbox
    sandbox = Sandbox.objects.get()
    return client, sandbox, launch_with_role(sandbox)


def _panel(client, instance_id) -> str:
    response = client.get(f"/sandbox/instances/{instance_id}/credentials")
    assert response.status_code == 200
    return response.content.decode()


def test_after_detaching_the_page_counts_the_last_set_down_and_both_demos_fail_after_it(
    browser_with_instance,
):
    client, sandbox, instance_id = browser_with_instance
    # Test data: a set that expires 12 s from now, so the story ends within the test.
    last = credentials_issue(
        sandbox=sandbox, instance_id=instance_id, role_name="app", lifetime=timedelta(seconds=12)
    )
    panel = _panel(client, instance_id)
    assert "Current credentials" in panel and last.access_key.access_key_id in panel
    client.post(f"/sandbox/instances/{instance_id}/demo")
    assert _panel(client, instance_id).count("works as arn:aws:sts::") == 2

    ec2 = aws_client("ec2", sandbox=sandbox)
    association = ec2.describe_iam_instance_profile_associations()[
        "IamInstanceProfileAssociations"
    ][0]
    ec2.disassociate_iam_instance_profile(AssociationId=association["AssociationId"])

    panel = _panel(client, instance_id)
    assert "Last credentials" in panel and "Current credentials" not in panel
    assert f"No instance profile is attached to {instance_id}: renewal has stopped" in panel
    assert "Next renewal in" in panel and "none: renewal has stopped" in panel
    assert last.access_key.access_key_id in panel and 'data-testid="expires-in"' in panel
    assert last.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ") in panel
    # The re-reading app finds no credentials at once; the cached one works until expiry.
    assert "NoCredentialsError: Unable to locate credentials" in panel
    assert panel.count("works as arn:aws:sts::") == 1
    InstanceCredentials.objects.update(renew_at=timezone.now() - timedelta(seconds=1))
    assert credentials_tick()["renewed"] == 0  # renewal has stopped

    while timezone.now() < last.expires_at + timedelta(seconds=1):
        time.sleep(0.5)
    panel = _panel(client, instance_id)
    assert "The last set it served has expired" in panel
    assert 'data-testid="expired-ago"' in panel and last.access_key.access_key_id in panel
    assert NO_CREDENTIALS_YET not in panel
    assert "ExpiredToken: The security token included in the request is expired" in panel
    assert "works as" not in panel  # both demo apps fail
    # Forgotten by the clock, the page still tells the same story.
    credentials_tick()
    panel = _panel(client, instance_id)
    assert "The last set it served has expired" in panel and NO_CREDENTIALS_YET not in panel


def test_a_stopped_instance_says_renewal_has_stopped(browser_with_instance):
    client, sandbox, instance_id = browser_with_instance
    credentials_issue(sandbox=sandbox, instance_id=instance_id, role_name="app")
    assert 'data-renewal="active"' in _panel(client, instance_id)
    aws_client("ec2", sandbox=sandbox).stop_instances(InstanceIds=[instance_id])
    panel = _panel(client, instance_id)
    assert 'data-renewal="stopped"' in panel
    assert f"{instance_id} is stopped: nothing on it runs, and renewal has stopped" in panel
    assert "Start the demo</button>" in panel and "disabled>Start the demo" in panel
