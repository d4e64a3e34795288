import json
import os
import subprocess
import sys

import pytest

from learnlab.gate.client import aws_client
from learnlab.gate.parsing import GATE_PREFIX
from learnlab.imds.services import endpoint_for
from learnlab.lib.iam_policy import EC2_TRUST_POLICY

READ_S3 = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}],
    }
)
AMI = "ami-0453ec754f44f9a4a"


@pytest.fixture
def lab(sandbox):
    """The lab's steps 1 to 3 done right: a role EC2 may assume, in a profile, on an instance."""
    iam, ec2 = aws_client("iam", sandbox=sandbox), aws_client("ec2", sandbox=sandbox)
    iam.create_role(RoleName="s3-reader", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.put_role_policy(RoleName="s3-reader", PolicyName="read", PolicyDocument=READ_S3)
    iam.create_instance_profile(InstanceProfileName="s3-reader")
    iam.add_role_to_instance_profile(InstanceProfileName="s3-reader", RoleName="s3-reader")
    instance = ec2.run_instances(
        ImageId=AMI,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        IamInstanceProfile={"Name": "s3-reader"},
        UserData="#!/bin/bash\necho hello",
    )["Instances"][0]["InstanceId"]
    return {"sandbox": sandbox, "iam": iam, "ec2": ec2, "instance_id": instance}


@pytest.fixture
def imds_url(lab, live_server):
    endpoint = endpoint_for(sandbox=lab["sandbox"], instance_id=lab["instance_id"])
    return f"{live_server.url}/imds/{endpoint.token}"


@pytest.fixture
def curl(imds_url):
    """Real curl against the instance's metadata service; returns (status, body, headers)."""

    def run(path, *args):
        result = subprocess.run(
            ["curl", "-s", "-i", *args, imds_url + path],
            capture_output=True,
            text=True,
            timeout=30,
        )
        head, _, body = result.stdout.partition("\n\n")  # text mode turns CRLF into LF
        status = int(head.split()[1])
        headers = {
            line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip()
            for line in head.splitlines()[1:]
            if ":" in line
        }
        return status, body, headers

    return run


@pytest.fixture
def on_instance(imds_url, live_server, tmp_path):
    """Run Python with botocore's default credential chain as a shell on the instance would:
    only the metadata endpoint, the gate and a region; no keys, no config files."""

    def run(code):
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds_url + "/",
            "AWS_ENDPOINT_URL": live_server.url + GATE_PREFIX,
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    return run
