"""The lab page's step list marks a step whose stored result went stale (the sandbox changed
after it was checked): a visible mark, and words for a screen reader."""

import pytest

from learnlab.gate.client import aws_client
from learnlab.labs.catalog import lab_get
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox.models import Sandbox
from learnlab.sandbox.services import sandbox_reset

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
LAB = "/lab/instance-role/"
FIRST = lab_get("instance-role").steps[0]


def _step_list(client) -> str:
    page = client.get(LAB).content.decode()
    return page.split('id="lab-progress"', 1)[1].split("</ol>", 1)[0]


def test_a_stale_step_is_marked_in_the_step_list(client, sandbox_server):
    assert client.get(LAB).status_code == 200
    sandbox = Sandbox.objects.get(learner_id=client.session["learner_id"])
    iam = aws_client("iam", sandbox=sandbox)
    iam.create_role(RoleName="web", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.attach_role_policy(
        RoleName="web", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    )
    checked = client.post(f"{LAB}steps/{FIRST.slug}/check", **HTMX).content.decode()
    assert "Passed." in checked
    assert "stale" not in _step_list(client)

    sandbox_reset(sandbox=sandbox)
    steps = _step_list(client)
    assert 'data-testid="step-stale-1"' in steps and "(stale: check again)" in steps
    assert steps.count("(stale: check again)") == 1  # only the step that has a result
    progress = client.get(f"{LAB}progress", **HTMX).content.decode()  # the refreshed list too
    assert "(stale: check again)" in progress and progress.count('class="is-passed"') == 1
