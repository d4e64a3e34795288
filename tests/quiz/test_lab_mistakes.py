"""Lab mistakes feed practice: a failed check on the real sandbox, or an AWS error met in a console
form, makes the quiz items on that step's exam points due now, and the mastery page says which
mistake brought them. One record per learner, step and reason, however often it happens."""

import json

import pytest
from django.utils import timezone
from django.utils.html import escape

from learnlab.gate.client import aws_client
from learnlab.labs.catalog import lab_get
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.quiz.bank import items_for, load_bank
from learnlab.quiz.models import LabMistake, ReviewCard
from learnlab.quiz.selectors import due_item_ids
from learnlab.quiz.services import answer_record
from learnlab.sandbox.models import Sandbox

HTMX = {"HTTP_HX_REQUEST": "true"}
LAB = "/lab/instance-role/"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
STEPS = {step.number: step for step in lab_get("instance-role").steps}


@pytest.fixture
def lab_client(client, sandbox_server, db):
    assert client.get(LAB).status_code == 200
    return client


def _sandbox(client) -> Sandbox:
    return Sandbox.objects.get(learner_id=client.session["learner_id"])


def _step_item_ids(number: int) -> set[str]:
    return {item.id for item in items_for(points=STEPS[number].points)}


def test_a_failed_check_makes_its_steps_items_due_and_mastery_says_why(lab_client):
    """Step 2's check on the real sandbox: an instance profile with no role in it fails (IAM's
    GetInstanceProfile shows an empty Roles list, IAM User Guide, "Using instance profiles")."""
    sandbox = _sandbox(lab_client)
    iam = aws_client("iam", sandbox=sandbox)
    trust = EC2_TRUST_POLICY
    iam.create_role(RoleName="web", AssumeRolePolicyDocument=trust)
    iam.attach_role_policy(RoleName="web", PolicyArn=S3_READ)
    iam.create_instance_profile(InstanceProfileName="web")  # ... and no role added to it
    learner = sandbox.learner
    # An item on step 2's points answered right is not due for days, until the mistake.
    item = load_bank()[sorted(_step_item_ids(2))[0]]
    answer_record(learner=learner, item=item, chosen=sorted(item.correct), mode="practice")
    assert ReviewCard.objects.get(learner=learner, item_id=item.id).due > timezone.now()
    assert due_item_ids(learner=learner) == []

    response = lab_client.post(f"{LAB}steps/{STEPS[2].slug}/check", **HTMX)
    assert response.status_code == 200
    mistake = LabMistake.objects.get(learner=learner)
    assert (mistake.step, mistake.source, mistake.points) == (2, "check", list(STEPS[2].points))
    assert set(due_item_ids(learner=learner)) == _step_item_ids(2)
    only_step_1 = _step_item_ids(1) - _step_item_ids(2)
    assert only_step_1 and only_step_1.isdisjoint(due_item_ids(learner=learner))

    page = lab_client.get("/quiz/mastery/").content.decode()
    assert escape(f"Due because step 2's check failed: {mistake.message}") in page
    assert "web" in mistake.message  # the check's own words, naming the profile
    # Practice now starts with the due items.
    practice = lab_client.get("/quiz/practice/?due=1").content.decode()
    assert any(f'value="{item_id}"' in practice for item_id in _step_item_ids(2))


def test_the_same_mistake_again_updates_one_record(lab_client):
    first = lab_client.post(f"{LAB}steps/{STEPS[1].slug}/check", **HTMX)
    assert first.status_code == 200
    before = LabMistake.objects.get()
    for _ in range(3):
        lab_client.post(f"{LAB}steps/{STEPS[1].slug}/check", **HTMX)
    after = LabMistake.objects.get()
    assert after.pk == before.pk and after.at > before.at
    assert set(due_item_ids(learner=_sandbox(lab_client).learner)) == _step_item_ids(1)


def test_an_aws_error_in_a_console_form_makes_its_steps_items_due(lab_client):
    """IAM answers CreateRole for an existing name with EntityAlreadyExists (IAM API reference,
    CreateRole, Errors)."""
    data = {
        "role_for_ec2-role_name": "S3ReadForEC2",
        "role_for_ec2-description": "",
        "role_for_ec2-trust_policy": EC2_TRUST_POLICY,
        "role_for_ec2-managed_policies": [S3_READ],
    }
    made = lab_client.post(f"{LAB}console/role_for_ec2", data, **HTMX).content.decode()
    assert 'data-testid="console-done"' in made
    assert not LabMistake.objects.exists()
    again = lab_client.post(f"{LAB}console/role_for_ec2", data, **HTMX).content.decode()
    assert "EntityAlreadyExists" in again
    mistake = LabMistake.objects.get()
    assert (mistake.source, mistake.reason) == ("console", "EntityAlreadyExists")
    steps = [s.number for s in STEPS.values() if "role_for_ec2" in s.forms]
    assert mistake.step in steps
    learner = _sandbox(lab_client).learner
    assert set(due_item_ids(learner=learner)) >= _step_item_ids(mistake.step)
    page = lab_client.get("/quiz/mastery/").content.decode()
    assert (
        escape(
            f"Due because of an AWS error in step {mistake.step}'s console form: "
            "An error occurred (EntityAlreadyExists)"
        )
        in page
    )


def test_a_form_refused_before_any_call_is_no_aws_error(lab_client):
    bad = {
        "role_for_ec2-role_name": "x",
        "role_for_ec2-trust_policy": json.dumps({"nope": 1}),
        "role_for_ec2-managed_policies": [S3_READ],
    }
    lab_client.post(f"{LAB}console/role_for_ec2", bad, **HTMX)
    assert not LabMistake.objects.exists()


def test_a_learners_mistakes_are_bounded(db):
    from learnlab.learners.models import Learner
    from learnlab.quiz.services import MISTAKES_PER_LEARNER, lab_mistake_record

    learner = Learner.objects.create()
    for n in range(MISTAKES_PER_LEARNER + 15):
        lab_mistake_record(
            learner=learner,
            lab="instance-role",
            step=3,
            points=["EP06"],
            source="console",
            reason=f"Code{n}",
            message="x" * 2000,
        )
    assert LabMistake.objects.filter(learner=learner).count() == MISTAKES_PER_LEARNER
    assert {len(m.message) for m in LabMistake.objects.all()} == {400}
    assert ReviewCard.objects.filter(learner=learner).count() == len(items_for(points=["EP06"]))


def test_merging_moves_mistakes_and_keeps_the_newer_of_a_pair(db):
    from learnlab.learners.models import Learner
    from learnlab.quiz.services import lab_mistake_record, lab_mistakes_merge

    source, target = Learner.objects.create(), Learner.objects.create()
    common = {"lab": "instance-role", "step": 2, "points": ["EP04"], "source": "check"}
    lab_mistake_record(learner=target, reason="check", message="old", **common)
    lab_mistake_record(learner=source, reason="check", message="new", **common)
    lab_mistake_record(learner=source, reason="EntityAlreadyExists", message="dup", **common)
    lab_mistakes_merge(source=source, target=target)
    assert sorted(LabMistake.objects.filter(learner=target).values_list("message", flat=True)) == [
        "dup",
        "new",
    ]
    assert not LabMistake.objects.filter(learner=source).exists()
