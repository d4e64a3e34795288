"""Steps are checked in order, through the lab page and the real sandbox: a later step never
shows passed while an earlier one does not, and its result names the earlier step to finish."""

import html
import re

import pytest

from learnlab.gate.client import aws_client
from learnlab.labs.catalog import lab_get
from learnlab.labs.models import StepResult
from learnlab.sandbox.models import Sandbox
from tests.helpers import launch_with_role

HTMX = {"HTTP_HX_REQUEST": "true"}
LAB = "/lab/instance-role/"
STEPS = {step.number: step for step in lab_get("instance-role").steps}
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


@pytest.fixture
def learner(client, sandbox_server, db):
    assert client.get(LAB).status_code == 200  # the first visit makes the learner's sandbox
    client.sandbox = Sandbox.objects.get(learner_id=client.session["learner_id"])
    return client


def check(client, number: int) -> str:
    response = client.post(f"{LAB}steps/{STEPS[number].slug}/check", **HTMX)
    assert response.status_code == 200
    return response.content.decode()


def shown(page: str, number: int) -> str:
    match = re.search(rf'data-testid="check-{number}"[^>]*>(.*?)</p>', page, re.S)
    assert match, page
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


def stored(client) -> dict:
    return {r.step: r for r in StepResult.objects.filter(learner=client.sandbox.learner)}


def _steps_1_to_3(sandbox) -> str:
    instance_id = launch_with_role(sandbox, "app")
    aws_client("iam", sandbox=sandbox).attach_role_policy(RoleName="app", PolicyArn=S3_READ)
    return instance_id


def test_a_later_step_names_the_first_earlier_step_to_finish(learner):
    result = shown(check(learner, 3), 3)
    assert result.startswith("Not yet. First finish step 1 (Create the role):"), result
    assert "no role yet" in result
    rows = stored(learner)
    assert not rows[STEPS[3].slug].passed and rows[STEPS[3].slug].attempts == 1
    # Step 1 was checked on the way, and says so where it is shown; it was not pressed.
    assert not rows[STEPS[1].slug].passed and rows[STEPS[1].slug].attempts == 0
    assert STEPS[2].slug not in rows


def test_checking_a_step_checks_the_earlier_ones_again_and_the_page_shows_them(learner):
    """The Check's answer swaps the earlier steps' fresh results into the page too."""
    _steps_1_to_3(learner.sandbox)
    page = check(learner, 3)
    assert shown(page, 3).startswith("Passed.")
    for number in (1, 2):
        assert f'<div id="step-{number}-result" hx-swap-oob="innerHTML">' in page
        assert shown(page, number).startswith("Passed.")
    rows = stored(learner)
    assert all(rows[STEPS[n].slug].passed for n in (1, 2, 3))
    progress = learner.get(f"{LAB}progress", **HTMX).content.decode()
    assert progress.count('class="is-passed"') == 3


def test_a_step_that_stops_passing_takes_the_later_steps_stored_passes_with_it(learner):
    """After detaching the profile (AWS: DisassociateIamInstanceProfile), step 3 fails; steps
    4 and 5, stored as passed before, no longer count and say to finish step 3."""
    from learnlab.imds.metadata import respond
    from learnlab.imds.services import endpoint_for

    sandbox = learner.sandbox
    instance_id = _steps_1_to_3(sandbox)
    endpoint = endpoint_for(sandbox=sandbox, instance_id=instance_id)
    path = "/latest/meta-data/iam/security-credentials/app"
    assert respond(endpoint, method="GET", path=path, headers={}).status == 200
    assert shown(check(learner, 4), 4).startswith("Passed.")

    ec2 = aws_client("ec2", sandbox=sandbox)
    association = ec2.describe_iam_instance_profile_associations()
    ec2.disassociate_iam_instance_profile(
        AssociationId=association["IamInstanceProfileAssociations"][0]["AssociationId"]
    )
    page = check(learner, 3)
    assert shown(page, 3).startswith("Not yet.")
    later = shown(page, 4)  # swapped into the page out of band
    assert later.startswith("Not yet.") and "Step 3 (Attach the profile to an instance)" in later
    rows = stored(learner)
    assert [rows[STEPS[n].slug].passed for n in (1, 2, 3, 4)] == [True, True, False, False]
    assert rows[STEPS[4].slug].passed_at is not None  # when it first passed stays known
    progress = learner.get(f"{LAB}progress", **HTMX).content.decode()
    assert progress.count('class="is-passed"') == 2
    assert 'href="#step-3" aria-current="step"' in progress


def test_a_stored_pass_after_an_unpassed_step_is_shown_as_not_counting(learner):
    """Rows stored by an older LearnLab (before steps were checked in order) may hold a pass
    after a failure: the page shows it not counting, and the step to finish."""
    from django.utils import timezone

    now = timezone.now()
    learner_row = learner.sandbox.learner
    StepResult.objects.create(
        learner=learner_row, lab="instance-role", step=STEPS[1].slug, message="x", checked_at=now
    )
    StepResult.objects.create(
        learner=learner_row,
        lab="instance-role",
        step=STEPS[2].slug,
        passed=True,
        message="Instance profile app holds role app.",
        checked_at=now,
        passed_at=now,
    )
    page = learner.get(LAB).content.decode()
    section = page.split('<section id="step-2"', 1)[1].split("</section>", 1)[0]
    result = shown(section, 2)
    assert result.startswith("Not yet. First finish step 1 (Create the role)"), result
    assert page.count('class="is-passed"') == 0
