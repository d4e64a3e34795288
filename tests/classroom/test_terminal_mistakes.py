"""AWS errors in the in-page terminal count like console-form errors: the class's common-mistakes
panel groups them (with a console-form learner's same error), and they make the step's quiz
items due. Real terminal (the AWS CLI in-process through the gate), real sandboxes."""

import json

import pytest
from django.utils.html import escape

from learnlab.labs.catalog import lab_get
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.quiz.bank import items_for
from learnlab.quiz.models import LabMistake
from learnlab.quiz.selectors import due_item_ids
from learnlab.sandbox.models import Sandbox
from tests.labs.test_lab_validate import HEAD, STEP  # the demo lab those tests use

HTMX = {"HTTP_HX_REQUEST": "true"}
LAB = "/lab/instance-role/"
STEPS = {step.number: step for step in lab_get("instance-role").steps}
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
TRUST = json.dumps(json.loads(EC2_TRUST_POLICY), separators=(",", ":"))


def _run(client, line: str) -> str:
    response = client.post("/terminal/run", {"line": line}, **HTMX)
    assert response.status_code == 200
    return response.content.decode()


def _learner(client):
    return Sandbox.objects.get(learner_id=client.session["learner_id"]).learner


def _board(instructor, classroom) -> str:
    return instructor.get(f"/class/teach/{classroom.code}/grid", **HTMX).content.decode()


def _role_then_profile_mistake(client, role: str) -> str:
    """Create a role (no instance profile: the CLI makes none), then give the role's name where
    the profile's belongs: IAM answers NoSuchEntity (AddRoleToInstanceProfile)."""
    _run(client, f"aws iam create-role --role-name {role} --assume-role-policy-document '{TRUST}'")
    return _run(
        client, f"aws iam add-role-to-instance-profile --instance-profile-name {role} "
        f"--role-name {role}",
    )  # fmt: skip


def test_a_terminal_aws_error_shows_on_the_board_and_makes_its_items_due(
    instructor, classroom, join
):
    ann, bo = join(classroom, "Ann"), join(classroom, "Bo")
    join(classroom, "Cy")
    for client, role in ((ann, "ann-role"), (bo, "bo-role")):
        out = _role_then_profile_mistake(client, role)
        assert "NoSuchEntity" in out, out
    mistake = LabMistake.objects.get(learner=_learner(ann))
    assert (mistake.source, mistake.reason, mistake.step) == ("terminal", "NoSuchEntity", 2)
    assert mistake.message.startswith("An error occurred (NoSuchEntity) when calling the ")
    board = _board(instructor, classroom)
    assert board.count('data-testid="mistake"') == 1, board
    assert "<strong>2 of 3</strong> on step 2 (AWS error)" in board
    assert "AddRoleToInstanceProfile" in board
    learner = _learner(ann)
    assert set(due_item_ids(learner=learner)) >= {
        item.id for item in items_for(points=STEPS[2].points)
    }
    page = ann.get("/quiz/mastery/").content.decode()
    assert escape("Due because of an AWS error in step 2's terminal command: ") in page


def test_the_same_error_in_a_console_form_and_in_the_terminal_is_one_kind(
    instructor, classroom, join
):
    """Creating a role that exists: IAM's EntityAlreadyExists, the same words whether a console
    form or the CLI asked (IAM API reference, CreateRole, Errors)."""
    ann, cy = join(classroom, "Ann"), join(classroom, "Cy")
    join(classroom, "Bo")
    form = {
        "role_for_ec2-role_name": "S3ReadForEC2",
        "role_for_ec2-description": "",
        "role_for_ec2-trust_policy": EC2_TRUST_POLICY,
        "role_for_ec2-managed_policies": [S3_READ],
    }
    assert cy.get(LAB).status_code == 200
    for _ in range(2):
        cy.post(f"{LAB}console/role_for_ec2", form, **HTMX)
    create = f"aws iam create-role --role-name S3ReadForEC2 --assume-role-policy-document '{TRUST}'"
    _run(ann, create)
    assert "EntityAlreadyExists" in _run(ann, create)
    sources = set(LabMistake.objects.values_list("source", "reason", "step"))
    assert sources == {
        ("console", "EntityAlreadyExists", 1),
        ("terminal", "EntityAlreadyExists", 1),
    }
    board = _board(instructor, classroom)
    assert board.count('data-testid="mistake"') == 1, board
    assert "<strong>2 of 3</strong> on step 1 (AWS error)" in board


def test_a_usage_error_or_a_success_is_no_aws_error(classroom, join):
    ann = join(classroom, "Ann")
    _run(ann, "aws iam add-role-to-instance-profile")  # the CLI's own usage error
    _run(ann, "aws sts get-caller-identity")
    _run(ann, "aws iam nonsense-operation")
    assert not LabMistake.objects.exists()


DEMO_LAB = (
    HEAD
    + STEP
    + "cli_run = [\"aws iam create-role --role-name app --assume-role-policy-document '{}'\"]\n"
)


def test_the_teaching_steps_follow_the_catalogue_served_now(classroom, join, tmp_path):
    """An AWS error met while another content folder is the catalogue (``lab selftest`` over an
    author's folder, a test's) is put on that folder's lab; once the folder is back, the same
    error is put on its own lab's step, not on the other folder's (found in the full suite:
    ``test_lab_selftest_...`` left the steps of its one-lab folder in force)."""
    from learnlab.labs import catalog

    (tmp_path / "demo.toml").write_text(DEMO_LAB)
    ann = join(classroom, "Ann")
    create = f"aws iam create-role --role-name twice --assume-role-policy-document '{TRUST}'"
    _run(ann, create)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(catalog, "LAB_DIR", tmp_path)
        assert "EntityAlreadyExists" in _run(ann, create)
    assert set(LabMistake.objects.values_list("lab", "step", "reason")) == {
        ("demo", 1, "EntityAlreadyExists")
    }
    out = _role_then_profile_mistake(ann, "ann-role")
    assert "NoSuchEntity" in out, out
    assert set(LabMistake.objects.values_list("lab", "step", "reason")) == {
        ("demo", 1, "EntityAlreadyExists"),
        ("instance-role", 2, "NoSuchEntity"),
    }
    assert "EntityAlreadyExists" in _run(ann, create)
    assert LabMistake.objects.filter(lab="instance-role", step=1).exists()
