"""The other side of R2's step 5 fix (``imds.selectors.cached_credentials_demo``): the
credentials page's demo call never counts as the learner's, and the learner's own call from the
instance still passes step 5 afterwards, the demo's key mark left as the learner's call made it.

Step 5 follows the IAM User Guide, "Use an IAM role to grant permissions to applications running
on Amazon EC2 instances" (id_roles_use_switch-role-ec2.html): the application on the instance
calls AWS with the role's temporary credentials, found through the metadata service.
"""

import pytest
from django.test import Client

from learnlab.gate.client import aws_client
from learnlab.imds.models import InstanceCredentials
from learnlab.labs.models import StepResult
from learnlab.sandbox.models import Sandbox
from learnlab.terminal.models import Shell
from learnlab.terminal.services import shell_open, shell_run
from tests.helpers import launch_with_role

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_cache")]

LAB = "/lab/instance-role/"


def _check(browser, step: str) -> StepResult:
    assert browser.post(f"{LAB}steps/{step}/check", HTTP_HX_REQUEST="true").status_code == 200
    return StepResult.objects.get(step=step)


def _run(shell: Shell, line: str):
    shell.refresh_from_db()
    return shell_run(shell=shell, line=line)


def test_the_learners_own_call_after_the_demo_passes_step_5(sandbox_server):
    """The demo runs twice (its calls leave every key's mark as it was: none), then the learner
    runs aws sts get-caller-identity in the terminal connected to the instance: step 5 passes
    with the role's session, and the key's mark is the learner's call's."""
    browser = Client()
    browser.get("/sandbox/panel")
    sandbox = Sandbox.objects.get()
    instance_id = launch_with_role(sandbox)
    aws_client("iam", sandbox=sandbox).attach_role_policy(
        RoleName="app", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    )
    shell = shell_open(sandbox=sandbox)
    assert _run(shell, f"connect {instance_id}").exit_status == 0
    fetched = _run(
        shell, "curl -s http://169.254.169.254/latest/meta-data/iam/security-credentials/app"
    )
    assert fetched.exit_status == 0 and "AccessKeyId" in fetched.output
    assert _check(browser, "read-metadata").passed

    for _ in range(2):
        browser.post(f"/sandbox/instances/{instance_id}/demo", {"action": "start"})
        assert browser.get(f"/sandbox/instances/{instance_id}/").context["demo"]["fresh"]["ok"]
    sets = InstanceCredentials.objects.select_related("access_key")
    assert all(s.access_key.last_used_at is None for s in sets)
    assert not _check(browser, "use-credentials").passed

    called = _run(shell, "aws sts get-caller-identity")
    assert called.exit_status == 0 and "assumed-role/app/" in called.output
    result = _check(browser, "use-credentials")
    assert result.passed and "assumed-role/app/" in result.message
    assert any(s.access_key.last_used_at is not None for s in sets.all())
