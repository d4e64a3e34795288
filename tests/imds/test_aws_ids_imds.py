"""The metadata service shows an instance profile by the id IAM and EC2 show for it, and an
instance's own credentials name its role by the role's AROA id (learnlab/sandbox/aws_ids.py),
through real curl and botocore's own credential chain on the instance."""

import json

import pytest

from learnlab.lib.iam_policy import EC2_TRUST_POLICY

pytestmark = pytest.mark.django_db(transaction=True)

INFO = "/latest/meta-data/iam/info"


def test_iam_info_ec2_and_iam_show_one_instance_profile_id(curl, lab):
    """IAM User Guide, troubleshoot_iam-ec2 ("What do the errors from the info document in the
    IAM subtree mean?"): the InstanceProfileId in iam/info is the profile's id in IAM
    (GetInstanceProfile) and in EC2 (IamInstanceProfile.Id); EC2 User Guide,
    instancedata-data-categories: iam/info holds InstanceProfileArn and InstanceProfileId.
    After replace-iam-instance-profile-association all three show the new profile's id."""
    iam, ec2, instance_id = lab["iam"], lab["ec2"], lab["instance_id"]
    profile = iam.get_instance_profile(InstanceProfileName="s3-reader")["InstanceProfile"]
    status, body, _ = curl(INFO)
    assert status == 200, body
    info = json.loads(body)
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert (
        info["InstanceProfileId"]
        == profile["InstanceProfileId"]
        == instance["IamInstanceProfile"]["Id"]
    )
    assert info["InstanceProfileArn"] == profile["Arn"]

    iam.create_role(RoleName="admin", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.create_instance_profile(InstanceProfileName="admin")
    iam.add_role_to_instance_profile(InstanceProfileName="admin", RoleName="admin")
    admin = iam.get_instance_profile(InstanceProfileName="admin")["InstanceProfile"]
    (association,) = ec2.describe_iam_instance_profile_associations()[
        "IamInstanceProfileAssociations"
    ]
    ec2.replace_iam_instance_profile_association(
        AssociationId=association["AssociationId"], IamInstanceProfile={"Name": "admin"}
    )

    info = json.loads(curl(INFO)[1])
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert (
        info["InstanceProfileId"]
        == admin["InstanceProfileId"]
        == instance["IamInstanceProfile"]["Id"]
    )
    assert info["InstanceProfileId"] != profile["InstanceProfileId"]


def test_credentials_from_the_metadata_service_are_the_roles_id_and_the_instance(on_instance, lab):
    """STS API Reference, GetCallerIdentity: an assumed role's UserId is
    ``role-id:role-session-name``, where the role id is the AROA id IAM shows (IAM User Guide,
    reference_identifiers) and EC2 names the session after the instance."""
    role = lab["iam"].get_role(RoleName="s3-reader")["Role"]
    out = on_instance(
        "import boto3, json; print(json.dumps(boto3.client('sts').get_caller_identity()))"
    )
    identity = json.loads(out)
    assert identity["UserId"] == f"{role['RoleId']}:{lab['instance_id']}"
    assert identity["Arn"].endswith(f":assumed-role/s3-reader/{lab['instance_id']}")
