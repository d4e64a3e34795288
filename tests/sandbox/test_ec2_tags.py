"""EC2 tags at AWS's limits (learnlab/sandbox/quotas.py): a key of 128 characters, a value of
256, 50 tags a resource, on CreateTags and on every call that tags what it creates, refused
before anything is created. moto took any length: one learner's megabyte tags on a default VPC
made every describe of it, and every other learner's call behind it, wait."""

import contextlib
import threading
import time

import pytest
from botocore.exceptions import ClientError

from tests.helpers import gate_client
from tests.sandbox.direct import query

pytestmark = pytest.mark.django_db(transaction=True)

MiB = 1024 * 1024
AMI = "ami-0453ec754f44f9a4a"


def _ec2(gate_url, sandbox):
    return gate_client(gate_url, sandbox, "ec2", read_timeout=60)


def _refusal(call, *args, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as refused:
        call(*args, **kwargs)
    error = refused.value.response["Error"]
    return error["Code"], error["Message"]


def test_megabyte_tags_do_not_hold_the_server_for_others(gate_url, make_sandbox, sandbox_server):
    """Each call alone was under the gate's 5 MiB cap, and over the 1 MiB the replay log keeps:
    Alice stored 4 MiB a call on her default VPC, and Bob's DescribeVpcs waited behind hers."""
    alice, bob = make_sandbox(), make_sandbox()
    ec2 = _ec2(gate_url, alice)
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    for index in range(10):
        with contextlib.suppress(ClientError):  # refused: what should happen
            ec2.create_tags(Resources=[vpc], Tags=[{"Key": f"k{index}", "Value": "v" * 4 * MiB}])
    assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0].get("Tags", []) == []
    describing = threading.Thread(target=ec2.describe_vpcs)
    describing.start()
    time.sleep(0.05)
    started = time.monotonic()
    status, _ = query(sandbox_server, bob, "ec2", "2016-11-15", "Action=DescribeVpcs")
    waited = time.monotonic() - started
    describing.join()
    assert status == 200
    assert waited < 0.2, f"Bob's DescribeVpcs waited {waited:.2f} s behind Alice's"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("k" * 129, "v", "Tag key exceeds the maximum length of 128 characters"),
        ("k", "v" * 257, "Tag value exceeds the maximum length of 256 characters"),
        ("k", "v" * 200_000, "Tag value exceeds the maximum length of 256 characters"),
    ],
)
def test_create_tags_past_aws_lengths_is_invalid_parameter_value(
    gate_url, sandbox, key, value, message
):
    ec2 = _ec2(gate_url, sandbox)
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    tags = [{"Key": key, "Value": value}]
    assert _refusal(ec2.create_tags, Resources=[vpc], Tags=tags) == (
        "InvalidParameterValue",
        message,
    )
    longest = [{"Key": "k" * 128, "Value": "v" * 256}]
    ec2.create_tags(Resources=[vpc], Tags=longest)
    assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["Tags"] == longest


def test_tags_given_at_creation_are_checked_before_anything_is_created(gate_url, sandbox):
    ec2 = _ec2(gate_url, sandbox)
    long_tag = [{"Key": "Name", "Value": "v" * 257}]
    calls = {
        "vpc": lambda spec: ec2.create_vpc(CidrBlock="10.1.0.0/16", TagSpecifications=spec),
        "security-group": lambda spec: ec2.create_security_group(
            GroupName="web", Description="web", TagSpecifications=spec
        ),
        "instance": lambda spec: ec2.run_instances(
            ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1, TagSpecifications=spec
        ),
    }
    for resource_type, create in calls.items():
        spec = [{"ResourceType": resource_type, "Tags": long_tag}]
        assert _refusal(create, spec)[0] == "InvalidParameterValue", resource_type
    assert len(ec2.describe_vpcs()["Vpcs"]) == 1  # the default VPC only
    assert [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]] == ["default"]
    assert ec2.describe_instances()["Reservations"] == []
    named = [{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "lab"}]}]
    assert calls["vpc"](named)["Vpc"]["Tags"] == [{"Key": "Name", "Value": "lab"}]


def test_a_resource_holds_at_most_50_tags(gate_url, sandbox):
    ec2 = _ec2(gate_url, sandbox)
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    tags = [{"Key": f"k{n}", "Value": "v"} for n in range(51)]
    assert _refusal(ec2.create_tags, Resources=[vpc], Tags=tags) == (
        "TagLimitExceeded",
        "The maximum number of Tags for a resource has been reached.",
    )
    spec = [{"ResourceType": "vpc", "Tags": tags}]
    refused = _refusal(ec2.create_vpc, CidrBlock="10.1.0.0/16", TagSpecifications=spec)
    assert refused[0] == "TagLimitExceeded"
    assert len(ec2.describe_vpcs()["Vpcs"]) == 1
    ec2.create_tags(Resources=[vpc], Tags=tags[:50])
    assert len(ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["Tags"]) == 50
