"""Red team R2: passing the lab's checks without the learner's own act.

``labs/checks.py``: steps 4 to 6 "pass only on the learner's own acts: a set fetched from the
instance's metadata service, a call made with it, two different sets seen". Step 5 follows the
IAM User Guide, "Use an IAM role to grant permissions to applications running on Amazon EC2
instances" (id_roles_use_switch-role-ec2.html): the application on the instance calls AWS with
the role's temporary credentials, found through the metadata service.
"""

import pytest
from django.test import Client

from learnlab.gate.client import aws_client
from learnlab.labs.models import StepResult
from learnlab.sandbox.models import Sandbox
from tests.helpers import launch_with_role

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_cache")]

LAB = "/lab/instance-role/"
CREDENTIALS = "latest/meta-data/iam/security-credentials/app"
STEPS = ("create-role", "create-instance-profile", "attach-to-instance", "read-metadata")


def _check(browser, step: str) -> StepResult:
    assert browser.post(f"{LAB}steps/{step}/check", HTTP_HX_REQUEST="true").status_code == 200
    return StepResult.objects.get(step=step)


def test_the_credentials_pages_demo_does_not_pass_step_5_for_the_learner(sandbox_server):
    """Attack: steps 1 to 4 done (the role's credentials fetched once from the metadata
    service), then on the instance's credentials page press the cached-credentials demo: the
    page itself calls sts:GetCallerIdentity with the role's credentials
    (``imds.selectors.cached_credentials_demo``), and the gate marks the key used. Expected:
    step 5 ("a call made with it", "found by the CLI with no keys stored on the instance")
    still asks for a call from the instance; LearnLab's own calls on the learner's behalf never
    count. Today it passes with "Calls were made as ...assumed-role/app/i-..."."""
    browser = Client()
    browser.get("/sandbox/panel")
    sandbox = Sandbox.objects.get()
    instance_id = launch_with_role(sandbox)
    aws_client("iam", sandbox=sandbox).attach_role_policy(
        RoleName="app", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    )
    page = browser.get(f"/sandbox/instances/{instance_id}/")
    metadata = "/" + page.context["imds_url"].split("/", 3)[3]
    assert browser.get(metadata + CREDENTIALS).status_code == 200  # step 4: the learner's fetch
    for step in STEPS:
        assert _check(browser, step).passed, step
    assert not _check(browser, "use-credentials").passed  # no call made with them yet

    browser.post(f"/sandbox/instances/{instance_id}/demo", {"action": "start"})
    shown = browser.get(f"/sandbox/instances/{instance_id}/")
    assert shown.context["demo"]["fresh"]["ok"]  # the page's own call with the role's key

    assert not _check(browser, "use-credentials").passed
