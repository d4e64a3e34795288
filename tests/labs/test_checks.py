"""Each step's check reads the sandbox through the gate and names the learner's exact mistake."""

import json

import pytest

from learnlab.gate.client import aws_client
from learnlab.labs.catalog import lab_get
from learnlab.labs.checks import SandboxView
from learnlab.labs.services import check_run
from learnlab.lib.iam_policy import EC2_TRUST_POLICY

AMI = "ami-0453ec754f44f9a4a"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


def _trust(principal, action="sts:AssumeRole") -> str:
    statement = {"Effect": "Allow", "Principal": principal, "Action": action}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _check(sandbox, number: int):
    step = lab_get("instance-role").steps[number - 1]
    return check_run(view=SandboxView(sandbox), step=step)


@pytest.fixture
def iam(sandbox):
    return aws_client("iam", sandbox=sandbox)


@pytest.fixture
def ec2(sandbox):
    return aws_client("ec2", sandbox=sandbox)


def test_step_1_fails_with_an_empty_sandbox_and_says_what_to_create(sandbox):
    result = _check(sandbox, 1)
    assert not result.passed
    assert "no role yet" in result.message and "ec2.amazonaws.com" in result.message


def test_step_1_names_a_user_as_the_wrong_trusted_principal(sandbox, iam):
    user_arn = f"arn:aws:iam::{sandbox.account_id}:user/learnlab"
    iam.create_role(RoleName="web", AssumeRolePolicyDocument=_trust({"AWS": user_arn}))
    iam.attach_role_policy(RoleName="web", PolicyArn=S3_READ)
    result = _check(sandbox, 1)
    assert not result.passed
    assert user_arn in result.message and "not the EC2 service" in result.message
    assert "update-assume-role-policy" in result.message


def test_step_1_names_another_service_as_the_wrong_trusted_principal(sandbox, iam):
    trust = _trust({"Service": "lambda.amazonaws.com"})
    iam.create_role(RoleName="web", AssumeRolePolicyDocument=trust)
    result = _check(sandbox, 1)
    assert not result.passed
    assert "lambda.amazonaws.com, a different AWS service" in result.message


def test_step_1_names_a_missing_sts_assume_role_action(sandbox, iam):
    trust = _trust({"Service": "ec2.amazonaws.com"}, action="sts:TagSession")
    iam.create_role(RoleName="web", AssumeRolePolicyDocument=trust)
    result = _check(sandbox, 1)
    assert not result.passed
    assert "only for sts:TagSession" in result.message and "sts:AssumeRole" in result.message


def test_step_1_names_a_role_without_a_permissions_policy(sandbox, iam):
    iam.create_role(RoleName="web", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    result = _check(sandbox, 1)
    assert not result.passed
    assert "has no permissions policy" in result.message
    assert "AmazonS3ReadOnlyAccess" in result.message


def test_step_1_passes_with_an_ec2_trust_and_a_managed_policy(sandbox, iam):
    iam.create_role(RoleName="web", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.attach_role_policy(RoleName="web", PolicyArn=S3_READ)
    result = _check(sandbox, 1)
    assert result.passed, result.message
    assert "AmazonS3ReadOnlyAccess" in result.message and not result.warning


def test_step_1_passes_an_action_star_policy_with_a_least_privilege_warning(sandbox, iam):
    iam.create_role(RoleName="web", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    everything = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName="web", PolicyName="all", PolicyDocument=json.dumps(everything))
    result = _check(sandbox, 1)
    assert result.passed
    assert '"Action": "*"' in result.warning and "EP14" in result.warning


def test_step_1_prefers_a_good_role_over_a_newer_broken_one(sandbox, iam):
    iam.create_role(RoleName="good", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.attach_role_policy(RoleName="good", PolicyArn=S3_READ)
    iam.create_role(
        RoleName="broken", AssumeRolePolicyDocument=_trust({"Service": "lambda.amazonaws.com"})
    )
    assert _check(sandbox, 1).passed


def test_step_2_says_a_profile_is_needed(sandbox, iam):
    result = _check(sandbox, 2)
    assert not result.passed and "no instance profile yet" in result.message


def test_step_2_names_a_profile_with_no_role(sandbox, iam):
    iam.create_instance_profile(InstanceProfileName="web")
    result = _check(sandbox, 2)
    assert not result.passed
    assert (
        "web holds no role" in result.message and "add-role-to-instance-profile" in result.message
    )


def test_step_2_names_the_problem_of_the_role_inside_the_profile(sandbox, iam):
    iam.create_role(
        RoleName="web", AssumeRolePolicyDocument=_trust({"Service": "lambda.amazonaws.com"})
    )
    iam.create_instance_profile(InstanceProfileName="web-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="web-profile", RoleName="web")
    result = _check(sandbox, 2)
    assert not result.passed
    assert "holds role web, but" in result.message and "lambda.amazonaws.com" in result.message


def _good_profile(iam, name="web"):
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.attach_role_policy(RoleName=name, PolicyArn=S3_READ)
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)


def test_step_2_passes_and_the_profile_takes_only_one_role(sandbox, iam):
    _good_profile(iam)
    assert _check(sandbox, 2).passed
    iam.create_role(RoleName="second", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    with pytest.raises(iam.exceptions.LimitExceededException):
        iam.add_role_to_instance_profile(InstanceProfileName="web", RoleName="second")


def _launch(ec2, **extra) -> str:
    reply = ec2.run_instances(ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1, **extra)
    return reply["Instances"][0]["InstanceId"]


def test_step_3_names_an_instance_launched_without_a_profile(sandbox, iam, ec2):
    _good_profile(iam)
    instance_id = _launch(ec2)
    result = _check(sandbox, 3)
    assert not result.passed
    assert f"{instance_id} (running) was launched without an instance profile" in result.message
    assert "associate-iam-instance-profile" in result.message


def test_step_3_names_a_profile_on_a_stopped_instance(sandbox, iam, ec2):
    _good_profile(iam)
    instance_id = _launch(ec2, IamInstanceProfile={"Name": "web"})
    ec2.stop_instances(InstanceIds=[instance_id])
    result = _check(sandbox, 3)
    assert not result.passed
    assert f"{instance_id} has profile web but is stopped" in result.message
    assert "start-instances" in result.message


def test_step_3_names_a_profile_on_a_terminated_instance(sandbox, iam, ec2):
    _good_profile(iam)
    instance_id = _launch(ec2, IamInstanceProfile={"Name": "web"})
    ec2.terminate_instances(InstanceIds=[instance_id])
    result = _check(sandbox, 3)
    assert not result.passed
    assert instance_id in result.message and "terminated" in result.message


def test_step_3_passes_when_attached_later_to_a_running_instance(sandbox, iam, ec2):
    _good_profile(iam)
    instance_id = _launch(ec2)
    assert not _check(sandbox, 3).passed
    ec2.associate_iam_instance_profile(InstanceId=instance_id, IamInstanceProfile={"Name": "web"})
    result = _check(sandbox, 3)
    assert result.passed, result.message
    assert result.facts == {
        "instance": instance_id,
        "instance_state": "running",
        "profile": "web",
        "role": "web",
        "profile_role": "web",
    }


def _on_instance(sandbox, iam, ec2) -> str:
    _good_profile(iam)
    return _launch(ec2, IamInstanceProfile={"Name": "web"})


def _read_credentials(sandbox, instance_id: str) -> dict:
    """What curl on the instance gets: the metadata service's credentials document."""
    from learnlab.imds.metadata import respond
    from learnlab.imds.services import endpoint_for

    endpoint = endpoint_for(sandbox=sandbox, instance_id=instance_id)
    path = "/latest/meta-data/iam/security-credentials/web"
    answer = respond(endpoint, method="GET", path=path, headers={})
    assert answer.status == 200, answer.body
    return json.loads(answer.body)


def test_steps_4_to_6_wait_for_step_3(sandbox):
    for number in (4, 5, 6):
        result = _check(sandbox, number)
        assert not result.passed and result.message.startswith("First finish step 3.")


def test_step_4_passes_once_the_metadata_service_has_handed_out_the_credentials(sandbox, iam, ec2):
    instance_id = _on_instance(sandbox, iam, ec2)
    result = _check(sandbox, 4)
    assert not result.passed
    assert f"connect {instance_id}" in result.message and "security-credentials/" in result.message
    document = _read_credentials(sandbox, instance_id)
    result = _check(sandbox, 4)
    assert result.passed and document["AccessKeyId"] in result.message


def test_step_5_passes_once_the_role_credentials_made_a_call(sandbox, iam, ec2):
    from learnlab.sandbox.models import AccessKey

    instance_id = _on_instance(sandbox, iam, ec2)
    document = _read_credentials(sandbox, instance_id)
    result = _check(sandbox, 5)
    assert not result.passed and "aws sts get-caller-identity" in result.message
    key = AccessKey.objects.get(access_key_id=document["AccessKeyId"])
    identity = aws_client("sts", sandbox=sandbox, key=key).get_caller_identity()
    result = _check(sandbox, 5)
    assert result.passed, result.message
    assert identity["Arn"] in result.message
    assert identity["Arn"].endswith(f":assumed-role/web/{instance_id}")


def test_step_6_passes_after_a_renewal(sandbox, iam, ec2):
    from datetime import timedelta

    from learnlab.imds.credentials import credentials_tick
    from learnlab.imds.models import InstanceCredentials

    instance_id = _on_instance(sandbox, iam, ec2)
    first = _read_credentials(sandbox, instance_id)
    result = _check(sandbox, 6)
    assert not result.passed and "No renewal yet" in result.message
    issued = InstanceCredentials.objects.get(sandbox=sandbox, instance_id=instance_id)
    credentials_tick(now=issued.renew_at + timedelta(seconds=1))
    result = _check(sandbox, 6)  # a renewal nobody has seen is not one the learner saw
    assert not result.passed and "No renewal seen yet" in result.message
    second = _read_credentials(sandbox, instance_id)
    assert second["AccessKeyId"] != first["AccessKeyId"]
    result = _check(sandbox, 6)
    assert result.passed and "received 2 sets" in result.message
    assert first["AccessKeyId"] in result.message and second["AccessKeyId"] in result.message


def test_step_3_follows_a_replaced_profile(sandbox, iam, ec2):
    _good_profile(iam)
    iam.create_instance_profile(InstanceProfileName="empty")
    instance_id = _launch(ec2, IamInstanceProfile={"Name": "web"})
    association = ec2.describe_iam_instance_profile_associations()["IamInstanceProfileAssociations"]
    ec2.replace_iam_instance_profile_association(
        IamInstanceProfile={"Name": "empty"}, AssociationId=association[0]["AssociationId"]
    )
    described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]
    assert described["Instances"][0]["IamInstanceProfile"]["Arn"].endswith("/empty")
    result = _check(sandbox, 3)
    assert not result.passed and "empty holds no role" in result.message
