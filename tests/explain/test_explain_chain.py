"""The instance chain debugger on an instance broken at each link (issue 19): no longer
running, no profile, a deleted profile, an empty profile, a trust policy for another service,
a metadata endpoint turned off, a role that may do nothing; and a whole chain. The links follow
the EC2 User Guide's "IAM roles for Amazon EC2" (instance profiles, the trust policy for
ec2.amazonaws.com, retrieving credentials from instance metadata with IMDSv2)."""

import json

import pytest

from learnlab.explain.chain import instance_chain
from learnlab.gate.client import aws_client
from learnlab.imds.models import InstanceCredentials
from tests.helpers import launch_with_role

pytestmark = pytest.mark.django_db(transaction=True)
IMAGE_ID = "ami-0453ec754f44f9a4a"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


def states(chain) -> dict:
    return {link.key: link.ok for link in chain.links}


def test_stopped_instance_breaks_at_running(sandbox):
    instance = launch_with_role(sandbox)
    aws_client("ec2", sandbox=sandbox).stop_instances(InstanceIds=[instance])
    chain = instance_chain(sandbox=sandbox, instance_id=instance)
    assert chain.broken.key == "running"
    assert "start-instances" in chain.broken.command
    assert states(chain)["profile"] is None  # not reached


def test_no_profile_breaks_at_profile(sandbox):
    ec2 = aws_client("ec2", sandbox=sandbox)
    instance = ec2.run_instances(ImageId=IMAGE_ID, MinCount=1, MaxCount=1)["Instances"][0][
        "InstanceId"
    ]
    chain = instance_chain(sandbox=sandbox, instance_id=instance)
    assert chain.broken.key == "profile"
    assert "associate-iam-instance-profile" in chain.broken.command
    assert states(chain)["running"] is True


def test_deleted_profile_breaks_at_profile_exists(sandbox):
    instance = launch_with_role(sandbox, "gone")
    iam = aws_client("iam", sandbox=sandbox)
    iam.remove_role_from_instance_profile(InstanceProfileName="gone", RoleName="gone")
    iam.delete_instance_profile(InstanceProfileName="gone")
    chain = instance_chain(sandbox=sandbox, instance_id=instance)
    assert chain.broken.key == "profile-exists"
    assert "replace-iam-instance-profile-association" in chain.broken.command


def test_empty_profile_breaks_at_role(sandbox):
    instance = launch_with_role(sandbox, "empty")
    aws_client("iam", sandbox=sandbox).remove_role_from_instance_profile(
        InstanceProfileName="empty", RoleName="empty"
    )
    chain = instance_chain(sandbox=sandbox, instance_id=instance)
    assert chain.broken.key == "role"
    assert "add-role-to-instance-profile --instance-profile-name empty" in chain.broken.command


def test_trust_for_another_service_breaks_at_trust(sandbox):
    instance = launch_with_role(sandbox, "lambdaish")
    lambda_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ForLambda",
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    aws_client("iam", sandbox=sandbox).update_assume_role_policy(
        RoleName="lambdaish", PolicyDocument=json.dumps(lambda_trust)
    )
    chain = instance_chain(sandbox=sandbox, instance_id=instance)
    assert chain.broken.key == "trust"
    (statement,) = chain.broken.extra["trust"].statements
    assert statement.sid == "ForLambda" and statement.action_matched
    assert not statement.principal_matched and "lambda.amazonaws.com" in statement.reason
    assert "update-assume-role-policy --role-name lambdaish" in chain.broken.command
    assert states(chain)["metadata"] is None


def test_metadata_endpoint_off_breaks_at_metadata(sandbox):
    instance = launch_with_role(sandbox, "quiet")
    aws_client("ec2", sandbox=sandbox).modify_instance_metadata_options(
        InstanceId=instance, HttpEndpoint="disabled"
    )
    chain = instance_chain(sandbox=sandbox, instance_id=instance)
    assert chain.broken.key == "metadata"
    asked = chain.broken.extra["asked"]
    assert [status for _, _, status, _ in asked] == [403, 403, 403]
    assert "--http-endpoint enabled" in chain.broken.fix


def test_role_without_permissions_breaks_at_permissions(sandbox):
    instance = launch_with_role(sandbox, "bare")
    chain = instance_chain(sandbox=sandbox, instance_id=instance)
    assert chain.broken.key == "permissions"
    assert "attach-role-policy --role-name bare" in chain.broken.command
    # The metadata service did answer, as an SDK asks it: token, iam/info, the role's name.
    assert [s for _, _, s, _ in chain.links[5].extra["asked"]] == [200, 200, 200]


def test_a_whole_chain_has_no_broken_link(sandbox):
    instance = launch_with_role(sandbox, "good")
    aws_client("iam", sandbox=sandbox).attach_role_policy(RoleName="good", PolicyArn=S3_READ)
    chain = instance_chain(sandbox=sandbox, instance_id=instance)
    assert chain.broken is None
    assert all(states(chain).values())
    metadata = chain.links[5].extra["asked"]
    info = json.loads(metadata[1][3])
    assert info["Code"] == "Success" and info["InstanceProfileArn"].endswith(
        ":instance-profile/good"
    )
    assert metadata[2][3].strip() == "good"
    # Step 4's own act (the first fetch of the credentials) is left to the learner.
    assert not InstanceCredentials.objects.filter(
        instance_id=instance, fetched_at__isnull=False
    ).exists()
    (policy,) = chain.links[6].extra["policies"]
    assert policy["name"] == "AmazonS3ReadOnlyAccess"
    assert any("s3:Get*" in line["actions"] for line in policy["lines"])


def test_an_unknown_or_malformed_instance_is_not_found(sandbox):
    assert not instance_chain(sandbox=sandbox, instance_id="i-0123456789abcdef0").found
    assert not instance_chain(sandbox=sandbox, instance_id="../etc").found
