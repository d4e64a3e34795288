"""A break-fix lab's prepared state: its declared setup calls are made through the gate when the
learner starts the lab (a fresh sandbox) and again on reset, recorded like the learner's own
calls (a rebuild or a rewind keeps them, with the same ids)."""

import pytest

from learnlab.gate.client import aws_client
from learnlab.labs import catalog
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox.models import Sandbox, SandboxCall

pytestmark = pytest.mark.django_db

LAB = "/lab/broken-role/"
BROKEN_TRUST = EC2_TRUST_POLICY.replace("ec2.amazonaws.com", "lambda.amazonaws.com")
TEXT = f"""
slug = "broken-role"
title = "Fix a role"
summary = "The role cannot serve an instance: find out why."

[[setup]]
service = "iam"
operation = "CreateRole"
params = {{ RoleName = "broken", AssumeRolePolicyDocument = '{BROKEN_TRUST}' }}

[[steps]]
slug = "fix-trust"
title = "Fix its trust policy"
points = ["EP03"]
check = "role_for_ec2"
forms = ["role_trust"]
instructions = "Fix it."
hint = "The principal."
[steps.solution]
console = "Edit trust policy."
cli = "aws iam update-assume-role-policy"
"""


@pytest.fixture
def lab_dir(monkeypatch, tmp_path):
    (tmp_path / "broken-role.toml").write_text(TEXT)
    (tmp_path / "other.toml").write_text(TEXT.replace("broken-role", "other-lab"))
    monkeypatch.setattr(catalog, "LAB_DIR", tmp_path)
    return tmp_path


def roles(sandbox) -> dict:
    return {
        r["RoleName"]: r["RoleId"] for r in aws_client("iam", sandbox=sandbox).list_roles()["Roles"]
    }


def test_starting_the_lab_makes_its_setup_calls_once_and_records_them(
    client, lab_dir, sandbox_server
):
    assert client.get(LAB).status_code == 200
    sandbox = Sandbox.objects.get(learner_id=client.session["learner_id"])
    first = roles(sandbox)
    assert list(first) == ["broken"]
    assert list(SandboxCall.objects.filter(sandbox=sandbox).values_list("action", flat=True)) == [
        "CreateRole"
    ]
    client.get(LAB)  # a second visit makes nothing more
    assert SandboxCall.objects.filter(sandbox=sandbox).count() == 1
    checked = client.post(f"{LAB}steps/fix-trust/check", HTTP_HX_REQUEST="true")
    assert "trusts lambda.amazonaws.com" in checked.content.decode()  # the planted fault
    # Another lab opened with this sandbox in use is not set up over it (Reset sets it up).
    client.get("/lab/other-lab/")
    assert SandboxCall.objects.filter(sandbox=sandbox).count() == 1


def test_reset_empties_the_sandbox_and_makes_the_setup_calls_again(client, lab_dir, sandbox_server):
    client.get(LAB)
    sandbox = Sandbox.objects.get(learner_id=client.session["learner_id"])
    aws_client("iam", sandbox=sandbox).create_role(
        RoleName="mine", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    page = client.post(f"{LAB}reset", follow=True).content.decode()
    assert "holds the lab&#x27;s starting state" in page
    assert list(roles(sandbox)) == ["broken"]
    assert SandboxCall.objects.filter(sandbox=sandbox).count() == 1


def test_rewind_to_before_step_1_keeps_the_prepared_state_with_its_ids(
    client, lab_dir, sandbox_server
):
    client.get(LAB)
    sandbox = Sandbox.objects.get(learner_id=client.session["learner_id"])
    prepared = roles(sandbox)
    iam = aws_client("iam", sandbox=sandbox)
    iam.update_assume_role_policy(RoleName="broken", PolicyDocument=EC2_TRUST_POLICY)
    iam.create_role(RoleName="extra", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    client.post(f"{LAB}steps/fix-trust/check")
    client.post(f"{LAB}reset", {"before": "fix-trust"})
    assert roles(sandbox) == prepared
    trust = iam.get_role(RoleName="broken")["Role"]["AssumeRolePolicyDocument"]
    assert "lambda.amazonaws.com" in str(trust)
