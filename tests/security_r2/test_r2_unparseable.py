"""Red team R2: characters XML 1.0 cannot carry (C0 controls other than tab, newline and carriage
return; U+FFFE) in values the sandbox echoes in its XML answers. moto stores them and writes them
back raw, botocore cannot parse the answer (``ResponseParserError``, which is not a
BotoCoreError), and from then on every read of that list fails: the lab page, its diagram, its
console forms and its checks answer 500 until the learner resets the sandbox.

AWS's rules (botocore's own models of the APIs, data/iam/2010-05-08/service-2.json): a role's
Description is ``roleDescriptionType``, at most 1000 characters, pattern
``[\\u0009\\u000A\\u000D\\u0020-\\u007E\\u00A1-\\u00FF]*``; IAM tag values are
``tagValueType``, pattern ``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*``. IAM refuses values outside
them with ``ValidationError``
(IAM API Reference, CreateRole, "Errors" and "Common Errors").
"""

import contextlib

import pytest
from botocore.exceptions import ClientError
from django.test import Client

from learnlab.gate.client import aws_client
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox.models import Sandbox
from tests.helpers import gate_client

LAB = "/lab/instance-role/"
IMAGE_ID = "ami-0453ec754f44f9a4a"


def _refused_with(call, **params) -> str:
    with pytest.raises(ClientError) as refused:
        call(**params)
    return refused.value.response["Error"]["Code"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("character", ["\x0b", "\x01", "\ufffe"])
def test_iam_refuses_a_role_description_outside_its_pattern(gate_url, sandbox, character):
    """Attack: boto3 over HTTP, CreateRole with Description "x<character>y". Expected: IAM's
    ValidationError, no role made, and ListRoles still answers. Today the role is made and
    every ListRoles answer after it is XML botocore cannot parse."""
    iam = gate_client(gate_url, sandbox, "iam")
    code = _refused_with(
        iam.create_role,
        RoleName="poison",
        AssumeRolePolicyDocument=EC2_TRUST_POLICY,
        Description=f"x{character}y",
    )
    assert code == "ValidationError"
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == []


@pytest.mark.django_db
def test_update_role_refuses_a_description_outside_its_pattern(sandbox):
    """Attack: a role made cleanly, then UpdateRole with Description "\\x02". Expected:
    ValidationError and the lab's reads (ListRoles) unharmed."""
    iam = aws_client("iam", sandbox=sandbox)
    iam.create_role(RoleName="fine", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    assert _refused_with(iam.update_role, RoleName="fine", Description="\x02") == (
        "ValidationError"
    )
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["fine"]


@pytest.mark.django_db
def test_iam_refuses_a_role_description_over_1000_characters(sandbox):
    """Attack: CreateRole with a 2,000-character Description (also what the console form's
    Description field sends). Expected: IAM's ValidationError ("Member must have length less
    than or equal to 1000"), no role made."""
    iam = aws_client("iam", sandbox=sandbox)
    code = _refused_with(
        iam.create_role,
        RoleName="long",
        AssumeRolePolicyDocument=EC2_TRUST_POLICY,
        Description="d" * 2000,
    )
    assert code == "ValidationError"


@pytest.mark.django_db
def test_iam_refuses_a_tag_value_outside_its_pattern(sandbox):
    """Attack: CreateInstanceProfile with a tag whose value is "\\x01". Expected: IAM's
    ValidationError (tagValueType's pattern), and ListInstanceProfiles, which the lab's step 2
    check reads, still answers."""
    iam = aws_client("iam", sandbox=sandbox)
    code = _refused_with(
        iam.create_instance_profile,
        InstanceProfileName="poison",
        Tags=[{"Key": "k", "Value": "\x01"}],
    )
    assert code == "ValidationError"
    assert iam.list_instance_profiles()["InstanceProfiles"] == []


@pytest.mark.django_db
def test_an_ec2_tag_with_a_control_character_never_breaks_describe_instances(sandbox):
    """Attack: RunInstances with a Name tag "\\x01" (what the console's Launch form sends for a
    Name typed with one). EC2's model sets no pattern on tag values, so either answer is AWS's
    (refused with an error, or kept): expected, DescribeInstances, which steps 3 to 6 and the
    diagram read, answers a document botocore parses. Today it never parses again."""
    ec2 = aws_client("ec2", sandbox=sandbox)
    with contextlib.suppress(ClientError):  # refused as AWS refuses: fine
        ec2.run_instances(
            ImageId=IMAGE_ID,
            InstanceType="t3.micro",
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "\x01"}]}
            ],
        )
    ec2.describe_instances()


@pytest.mark.django_db(transaction=True)
def test_the_create_role_form_with_a_control_character_is_refused_and_the_lab_page_lives(
    sandbox_server, fresh_cache
):
    """Attack: the console's Create role form with "\\x0b" in Description. Expected: the form
    answers (200) saying IAM refused it, nothing is left made, and the lab page, its diagram and
    Check still answer. Today the form answers 500 with role "poison" made and not undone (the
    undo runs only on CallFailed), and the lab page answers 500 from then on."""
    browser = Client(raise_request_exception=False)
    browser.get("/sandbox/panel")
    form = {
        "role_for_ec2-role_name": "poison",
        "role_for_ec2-trust_policy": EC2_TRUST_POLICY,
        "role_for_ec2-description": "made\x0bby the form",
    }
    answer = browser.post(f"{LAB}console/role_for_ec2", form, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200
    assert "ValidationError" in answer.content.decode()
    assert browser.get(LAB).status_code == 200
    assert browser.get(f"{LAB}diagram").status_code == 200
    check = browser.post(f"{LAB}steps/create-role/check", HTTP_HX_REQUEST="true")
    assert check.status_code == 200
    iam = aws_client("iam", sandbox=Sandbox.objects.get())
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == []
