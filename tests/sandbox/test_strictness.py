"""The sandbox server's rules where moto is lax (learnlab/sandbox/strictness.py): NoSuchEntity in
IAM's words, trust policies naming principals that exist, AMIs that exist and fit the instance
type, terminated instances that stay terminated. Through the real AWS CLI and boto3 over HTTP
via the gate, as a learner meets them."""

import json

import pytest
from botocore.exceptions import ClientError

from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from tests.helpers import gate_client

pytestmark = pytest.mark.django_db(transaction=True)

X86_AMI = "ami-0453ec754f44f9a4a"  # learnlab/sandbox/amis.json: Amazon Linux 2023, x86_64
ARM_AMI = "ami-0cd61a5ee0b6a0bd0"  # the same, arm64


def _error(call, *args, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as raised:
        call(*args, **kwargs)
    error = raised.value.response
    status = error["ResponseMetadata"]["HTTPStatusCode"]
    return error["Error"]["Code"], error["Error"]["Message"], status


def _trusting(*principals: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": list(principals)},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def test_no_such_entity_is_worded_as_iam_words_it(aws, gate_url, sandbox):
    """IAM's NoSuchEntity (HTTP 404), quoted from real output: "The role with name k8sAdmin
    cannot be found." (GetRole, aws-samples/amazon-eks-security-immersion-day#54), "Instance
    Profile adamnovak_test_cluster2_toil cannot be found." (GetInstanceProfile,
    DataBiosphere/toil#4836), "Policy arn:aws:iam::aws:policy/AWSLambdaFullAccess does not
    exist or is not attachable." (attach, pulumi/pulumi#7419); GetPolicy "Policy <arn> was not
    found." (IAM API reference, GetPolicy: NoSuchEntity)."""
    result = aws("iam", "get-role", "--role-name", "nope", sandbox=sandbox)
    assert result.returncode != 0
    assert (
        "An error occurred (NoSuchEntity) when calling the GetRole operation: "
        "The role with name nope cannot be found." in result.stderr
    )
    iam = gate_client(gate_url, sandbox, "iam")
    assert _error(iam.get_instance_profile, InstanceProfileName="nope") == (
        "NoSuchEntity",
        "Instance Profile nope cannot be found.",
        404,
    )
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    # The entity each call names, in the same words wherever moto looks it up.
    assert _error(iam.add_role_to_instance_profile, InstanceProfileName="nope", RoleName="app")[
        1
    ] == ("Instance Profile nope cannot be found.")
    iam.create_instance_profile(InstanceProfileName="app")
    assert _error(iam.add_role_to_instance_profile, InstanceProfileName="app", RoleName="nope")[
        1
    ] == ("The role with name nope cannot be found.")
    assert _error(iam.get_user, UserName="nope")[1] == "The user with name nope cannot be found."
    missing = f"arn:aws:iam::{sandbox.account_id}:policy/nope"
    assert _error(iam.get_policy, PolicyArn=missing) == (
        "NoSuchEntity",
        f"Policy {missing} was not found.",
        404,
    )
    not_attachable = f"Policy {missing} does not exist or is not attachable."
    assert _error(iam.attach_role_policy, RoleName="app", PolicyArn=missing)[1] == not_attachable
    iam.create_group(GroupName="devs")
    assert _error(iam.attach_group_policy, GroupName="devs", PolicyArn=missing) == (
        "NoSuchEntity",
        not_attachable,
        404,
    )


def test_a_trust_policy_naming_a_principal_that_does_not_exist_is_refused(aws, gate_url, sandbox):
    """IAM resolves a trust policy's role and user principals when it stores the policy, so one
    that does not exist is MalformedPolicyDocument 'Invalid principal in policy:
    "AWS":"arn:aws:iam::...:role/..."': at CreateRole (opstrace/opstrace#88, and the
    explanation in hashicorp/terraform-provider-aws#8905) and at UpdateAssumeRolePolicy
    (databrickslabs/ucx#2269). IAM User Guide, "AWS JSON policy elements: Principal": "If your
    Principal element in a role trust policy contains an ARN that points to a specific IAM
    role, then that ARN transforms to the role's unique principal ID"."""
    nope = f"arn:aws:iam::{sandbox.account_id}:role/nope"
    result = aws(
        "iam", "create-role", "--role-name", "app",
        "--assume-role-policy-document", _trusting(nope), sandbox=sandbox,
    )  # fmt: skip
    assert result.returncode != 0
    assert (
        "An error occurred (MalformedPolicyDocument) when calling the CreateRole operation: "
        f'Invalid principal in policy: "AWS":"{nope}"' in result.stderr
    )
    iam = gate_client(gate_url, sandbox, "iam")
    assert iam.list_roles()["Roles"] == []
    ghost = f"arn:aws:iam::{sandbox.account_id}:user/ghost"
    assert _error(iam.create_role, RoleName="app", AssumeRolePolicyDocument=_trusting(ghost)) == (
        "MalformedPolicyDocument",
        f'Invalid principal in policy: "AWS":"{ghost}"',
        400,
    )

    # Principals that exist (the lab user, a role, the account) are taken; then a role that is
    # gone is refused at UpdateAssumeRolePolicy.
    lab_user = f"arn:aws:iam::{sandbox.account_id}:user/learnlab"
    iam.create_role(RoleName="helper", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    helper = f"arn:aws:iam::{sandbox.account_id}:role/helper"
    iam.create_role(
        RoleName="app",
        AssumeRolePolicyDocument=_trusting(lab_user, helper, sandbox.account_id),
    )
    assert _error(
        iam.update_assume_role_policy, RoleName="app", PolicyDocument=_trusting(helper, nope)
    ) == ("MalformedPolicyDocument", f'Invalid principal in policy: "AWS":"{nope}"', 400)
    trust = iam.get_role(RoleName="app")["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"]["AWS"] == [lab_user, helper, sandbox.account_id]


def test_an_image_that_does_not_exist_is_not_found(aws, sandbox):
    """EC2: InvalidAMIID.NotFound "The image id '[ami-...]' does not exist", brackets included
    (EC2's raw answer in aws/aws-sdk#97; RunInstances in brikis98/
    terraform-up-and-running-code#41). moto launches any image id."""
    result = aws(
        "ec2", "run-instances", "--image-id", "ami-0123456789abcdef0",
        "--instance-type", "t3.micro", sandbox=sandbox,
    )  # fmt: skip
    assert result.returncode != 0
    assert (
        "An error occurred (InvalidAMIID.NotFound) when calling the RunInstances operation: "
        "The image id '[ami-0123456789abcdef0]' does not exist" in result.stderr
    )


def test_an_image_whose_architecture_the_instance_type_cannot_run_is_refused(gate_url, sandbox):
    """EC2: InvalidParameterValue "The architecture 'x86_64' of the specified instance type
    does not match the architecture 'arm64' of the specified AMI. Specify an instance type and
    an AMI that have matching architectures, and try again. You can use
    'describe-instance-types' or 'describe-images' to discover the architecture of the
    instance type or AMI." (RunInstances in aws/eks-anywhere-build-tooling#2158 and, the other
    way round, skypilot-org/skypilot#6315). Architectures: the AMI's, and the instance type's
    ProcessorInfo.SupportedArchitectures (DescribeInstanceTypes)."""
    ec2 = gate_client(gate_url, sandbox, "ec2")
    one = {"MinCount": 1, "MaxCount": 1}
    advice = (
        "Specify an instance type and an AMI that have matching architectures, and try again. "
        "You can use 'describe-instance-types' or 'describe-images' to discover the "
        "architecture of the instance type or AMI."
    )
    assert _error(ec2.run_instances, ImageId=ARM_AMI, InstanceType="t2.micro", **one) == (
        "InvalidParameterValue",
        "The architecture 'x86_64' of the specified instance type does not match the "
        f"architecture 'arm64' of the specified AMI. {advice}",
        400,
    )
    assert _error(ec2.run_instances, ImageId=X86_AMI, InstanceType="t4g.micro", **one)[1] == (
        "The architecture 'arm64' of the specified instance type does not match the "
        f"architecture 'x86_64' of the specified AMI. {advice}"
    )
    assert ec2.describe_instances()["Reservations"] == []
    # Matching pairs launch.
    ec2.run_instances(ImageId=ARM_AMI, InstanceType="t4g.micro", **one)
    ec2.run_instances(ImageId=X86_AMI, InstanceType="t3.micro", **one)
    assert len(ec2.describe_instances()["Reservations"]) == 2


def test_a_terminated_instance_cannot_be_started_or_stopped(aws, gate_url, sandbox):
    """EC2: IncorrectInstanceState "The instance 'i-...' is not in a state from which it can be
    started." (StartInstances, aws-solutions/instance-scheduler-on-aws#281) and "This instance
    'i-...' is not in a state from which it can be stopped." (StopInstances, EC2's raw answer
    in ansible-collections/amazon.aws#146). moto brings a terminated instance back."""
    ec2 = gate_client(gate_url, sandbox, "ec2")
    instance_id = ec2.run_instances(
        ImageId=X86_AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1
    )["Instances"][0]["InstanceId"]
    ec2.terminate_instances(InstanceIds=[instance_id])
    result = aws("ec2", "start-instances", "--instance-ids", instance_id, sandbox=sandbox)
    assert result.returncode != 0
    assert (
        "An error occurred (IncorrectInstanceState) when calling the StartInstances operation: "
        f"The instance '{instance_id}' is not in a state from which it can be started."
        in result.stderr
    )
    assert _error(ec2.stop_instances, InstanceIds=[instance_id]) == (
        "IncorrectInstanceState",
        f"This instance '{instance_id}' is not in a state from which it can be stopped.",
        400,
    )
    state = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "terminated"
