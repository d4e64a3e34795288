"""The other side of R2's unparseable-answer fixes (``gate/fidelity.py``'s ``check_iam_text`` and
``check_xml_characters``, ``lib/aws_errors.py``'s XML-safe errors, ``labs/console.py`` and
``labs/views.py`` on an answer botocore cannot parse).

Sources: botocore's IAM model (data/iam/2010-05-08/service-2.json: roleDescriptionType,
tagKeyType, tagValueType; sts/2011-06-15: roleSessionNameType); the IAM API Reference, "Common
Errors" (ValidationError, 400); the Amazon EC2 API Reference, "Error codes for the Amazon EC2
API" (InvalidCharacter, "A specified character is invalid."); the Amazon EC2 User Guide, "Tag
restrictions" ("Amazon EC2 resources allow any characters"); XML 1.0 section 2.2, "Characters".
"""

import pytest
from botocore.exceptions import ClientError
from django.test import Client

from learnlab.gate.client import aws_client
from learnlab.labs.checks import SandboxView
from learnlab.labs.console import CallFailed, Recorder
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox.models import Sandbox
from tests.helpers import gate_client
from tests.sandbox.direct import q, query

IMAGE_ID = "ami-0453ec754f44f9a4a"
LAB = "/lab/instance-role/"
TAG_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*"


def _error(call, **params) -> dict:
    with pytest.raises(ClientError) as refused:
        call(**params)
    return refused.value.response["Error"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("character", ["\x01", "\x1f", "\ufffe", "\uffff"])
def test_ec2_refuses_a_tag_xml_cannot_carry_over_http(gate_url, sandbox, character):
    """EC2 over HTTP (boto3): RunInstances with a Name tag holding the character answers
    InvalidCharacter naming the parameter and the code point, no instance is made, and
    DescribeInstances still parses. The error itself never repeats the raw character."""
    ec2 = gate_client(gate_url, sandbox, "ec2")
    error = _error(
        ec2.run_instances,
        ImageId=IMAGE_ID,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": f"a{character}"}]}
        ],
    )
    assert error["Code"] == "InvalidCharacter"
    assert f"U+{ord(character):04X}" in error["Message"]
    assert "TagSpecification.1.Tag.1.Value" in error["Message"]
    assert ec2.describe_instances()["Reservations"] == []


@pytest.mark.django_db
def test_ec2_keeps_tags_with_any_other_character(sandbox):
    """EC2 allows any character in tags (User Guide, "Tag restrictions"): tab, newline,
    semicolons, an em dash and emoji are kept and read back as sent."""
    ec2 = aws_client("ec2", sandbox=sandbox)
    value = "a\tb\nc; d — é 🙂"
    made = ec2.run_instances(
        ImageId=IMAGE_ID,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": value}]}],
    )["Instances"][0]["InstanceId"]
    ec2.create_tags(Resources=[made], Tags=[{"Key": "note", "Value": "x;y"}])
    tags = ec2.describe_instances()["Reservations"][0]["Instances"][0]["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"Name": value, "note": "x;y"}
    refused = _error(ec2.create_tags, Resources=[made], Tags=[{"Key": "k\x02", "Value": ""}])
    assert refused["Code"] == "InvalidCharacter"


@pytest.mark.django_db
def test_iam_tags_follow_the_models_pattern_not_only_xml(sandbox):
    """IAM tag values are tagValueType: "(" is refused as IAM refuses it (a value real IAM
    answered with this error in public issues), naming 'tags.N.member.value' and the pattern;
    letters of any script, spaces and _.:/=+-@ are kept."""
    iam = aws_client("iam", sandbox=sandbox)
    error = _error(
        iam.create_role,
        RoleName="tagged",
        AssumeRolePolicyDocument=EC2_TRUST_POLICY,
        Tags=[{"Key": "team", "Value": "ok"}, {"Key": "Service", "Value": "UCS (Unified)"}],
    )
    assert error["Code"] == "ValidationError"
    assert error["Message"] == (
        "1 validation error detected: Value at 'tags.2.member.value' failed to satisfy "
        f"constraint: Member must satisfy regular expression pattern: {TAG_PATTERN}"
    )
    assert iam.list_roles()["Roles"] == []
    fine = "Équipe ünï 東京 _.:/=+-@ 42"
    iam.create_role(
        RoleName="tagged",
        AssumeRolePolicyDocument=EC2_TRUST_POLICY,
        Tags=[{"Key": "team:name", "Value": fine}],
    )
    assert iam.list_role_tags(RoleName="tagged")["Tags"] == [{"Key": "team:name", "Value": fine}]
    error = _error(iam.tag_role, RoleName="tagged", Tags=[{"Key": "k\x07", "Value": "v"}])
    assert "'tags.1.member.key'" in error["Message"]


@pytest.mark.django_db
def test_iam_reports_every_failed_constraint_of_a_description_at_once(sandbox):
    """A 1,001-character Description holding a control character breaks two constraints:
    IAM's "2 validation errors detected", the length and the pattern, in the model's order.
    Tab, newline and Latin-1 letters are in roleDescriptionType; an em dash is not."""
    iam = aws_client("iam", sandbox=sandbox)
    error = _error(
        iam.create_role,
        RoleName="r",
        AssumeRolePolicyDocument=EC2_TRUST_POLICY,
        Description="\x0b" + "d" * 1000,
    )
    assert error["Message"].startswith("2 validation errors detected: Value at 'description'")
    assert "Member must have length less than or equal to 1000" in error["Message"]
    assert "[\\u0009\\u000A\\u000D\\u0020-\\u007E\\u00A1-\\u00FF]*" in error["Message"]
    em_dash = _error(
        iam.create_role,
        RoleName="r",
        AssumeRolePolicyDocument=EC2_TRUST_POLICY,
        Description="with an em dash —",
    )
    assert em_dash["Message"].startswith("1 validation error detected: Value at 'description'")
    described = "Ünïcode\tlatin-1\nonly, 1000 max" + "x" * 960
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=EC2_TRUST_POLICY, Description=described)
    assert iam.get_role(RoleName="r")["Role"]["Description"] == described
    iam.update_role_description(RoleName="r", Description="plain")
    assert _error(iam.update_role_description, RoleName="r", Description="\x00")["Code"] == (
        "ValidationError"
    )
    assert iam.get_role(RoleName="r")["Role"]["Description"] == "plain"


@pytest.mark.django_db
def test_other_iam_and_sts_values_xml_cannot_carry_are_refused(sandbox):
    """The general rule: a managed policy's Description (no pattern in the model) and an STS
    RoleSessionName (roleSessionNameType) with a control character are ValidationError too,
    naming the member; nothing is made."""
    iam = aws_client("iam", sandbox=sandbox)
    document = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*",'
    document += '"Resource":"*"}]}'
    error = _error(iam.create_policy, PolicyName="p", PolicyDocument=document, Description="a\x1bb")
    assert error["Code"] == "ValidationError"
    assert "Value at 'description' failed to satisfy constraint" in error["Message"]
    assert iam.list_policies(Scope="Local")["Policies"] == []
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    sts = aws_client("sts", sandbox=sandbox)
    role_arn = f"arn:aws:iam::{sandbox.account_id}:role/app"
    error = _error(sts.assume_role, RoleArn=role_arn, RoleSessionName="s\x01")
    assert error["Code"] == "ValidationError"
    assert "'roleSessionName'" in error["Message"] and "[\\w+=,.@-]*" in error["Message"]


@pytest.mark.django_db(transaction=True)
def test_an_error_repeating_a_control_character_is_still_xml_botocore_parses(gate_url, sandbox):
    """An 80-character role name with control characters: IAM's length error repeats the
    value, and the gate writes each character XML cannot carry as its code point, so boto3
    over HTTP gets a ValidationError, not a ResponseParserError."""
    iam = gate_client(gate_url, sandbox, "iam")
    error = _error(
        iam.create_role, RoleName="x\x01" * 40, AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    assert error["Code"] == "ValidationError"
    assert "xU+0001xU+0001" in error["Message"]
    assert "Member must have length less than or equal to 64" in error["Message"]


def _poison(sandbox_server, sandbox) -> None:
    """A role whose Description holds U+0001, put in moto straight (as a sandbox rebuilt from
    a replay log recorded before the gate refused it would hold it): every ListRoles answer is
    XML botocore cannot parse."""
    status, _ = query(
        sandbox_server,
        sandbox,
        "iam",
        "2010-05-08",
        f"Action=CreateRole&RoleName=old&AssumeRolePolicyDocument={q(EC2_TRUST_POLICY)}"
        f"&Description={q('a' + chr(1))}",
    )
    assert status == 200


@pytest.mark.django_db(transaction=True)
def test_an_unparseable_answer_is_a_failed_call_for_the_forms(sandbox_server, sandbox):
    """Recorder.call: ResponseParserError (not a BotoCoreError) is a CallFailed saying what
    happened and what to do, so a form's undo runs and the learner gets a message."""
    _poison(sandbox_server, sandbox)
    recorder = Recorder(SandboxView(sandbox))
    with pytest.raises(CallFailed) as failed:
        recorder.call("iam", "ListRoles")
    assert "could not be read (ResponseParserError)" in failed.value.call.error
    assert "reset the lab" in failed.value.call.error


@pytest.mark.django_db(transaction=True)
def test_the_lab_page_answers_with_an_unparseable_sandbox(sandbox_server, fresh_cache):
    """The lab page, its diagram, a Check and a console form on a sandbox whose ListRoles
    cannot be parsed: each answers 200 with a message, never a 500 (``labs/views.py``
    SANDBOX_ERRORS, ``labs/console.py``'s Recorder)."""
    browser = Client(raise_request_exception=False)
    browser.get("/sandbox/panel")
    _poison(sandbox_server, Sandbox.objects.get())
    assert browser.get(LAB).status_code == 200
    assert browser.get(f"{LAB}diagram").status_code == 200
    check = browser.post(f"{LAB}steps/create-role/check", HTTP_HX_REQUEST="true")
    assert check.status_code == 200
    form = {"role_for_ec2-role_name": "fresh", "role_for_ec2-trust_policy": EC2_TRUST_POLICY}
    answer = browser.post(f"{LAB}console/role_for_ec2", form, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200
