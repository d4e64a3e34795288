"""A shell on a lab instance: curl against its metadata service as AWS documents it, and the
CLI with the instance's role, found by botocore itself through that metadata service."""

import json

import pytest

from learnlab.gate.client import aws_client
from tests.helpers import launch_with_role

pytestmark = pytest.mark.django_db

CREDENTIALS = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"


@pytest.fixture
def instance_id(sandbox):
    return launch_with_role(sandbox, "app")


@pytest.fixture
def on_instance(run, instance_id):
    result = run(f"connect {instance_id}")
    assert result.exit_status == 0, result.output
    return result


def test_connect_switches_the_prompt_to_the_instance(on_instance, sandbox, instance_id):
    instance = aws_client("ec2", sandbox=sandbox).describe_instances(InstanceIds=[instance_id])
    private_ip = instance["Reservations"][0]["Instances"][0]["PrivateIpAddress"]
    assert on_instance.prompt == f"[ec2-user@ip-{private_ip.replace('.', '-')} ~]$"
    assert f"Connected to {instance_id}" in on_instance.output


def test_imdsv1_lists_the_role_and_serves_its_credentials(run, on_instance):
    assert run(f"curl {CREDENTIALS}").output == "app\n"
    document = json.loads(run(f"curl -s {CREDENTIALS}app").output)
    assert document["Code"] == "Success" and document["AccessKeyId"].startswith("ASIA")


def test_the_imdsv2_token_flow_exactly_as_aws_documents_it(run, on_instance):
    result = run(
        'TOKEN=`curl -X PUT "http://169.254.169.254/latest/api/token" '
        '-H "X-aws-ec2-metadata-token-ttl-seconds: 21600"` '
        '&& curl -H "X-aws-ec2-metadata-token: $TOKEN" '
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    )
    assert result.exit_status == 0
    # curl's progress meter goes to stderr when its output is captured, as on a real instance.
    assert "% Total    % Received" in result.output
    assert result.output.endswith("app\n")
    assert len(run("echo $TOKEN").output.strip()) > 20
    forged = run(
        'curl -s -w "%{http_code}" -H "X-aws-ec2-metadata-token: forged" '
        "http://169.254.169.254/latest/meta-data/"
    )
    assert forged.output.endswith("401\n")


def test_curl_flags_from_the_documentation(run, on_instance, instance_id):
    head = run("curl -i http://169.254.169.254/latest/meta-data/instance-id").output
    assert head.startswith("HTTP/1.1 200 OK\n") and head.endswith(f"\n\n{instance_id}\n")
    assert run("curl -sS http://[fd00:ec2::254]/latest/meta-data/instance-id").output == (
        instance_id + "\n"
    )
    missing = run("curl -sf http://169.254.169.254/latest/meta-data/nope")
    assert missing.exit_status == 22 and missing.output == ""
    verbose = run("curl -v http://169.254.169.254/latest/meta-data/ami-id").output
    assert "> GET /latest/meta-data/ami-id HTTP/1.1" in verbose and "< HTTP/1.1 200 OK" in verbose


def test_imdsv2_required_refuses_v1_but_not_the_cli(run, on_instance, sandbox, instance_id):
    aws_client("ec2", sandbox=sandbox).modify_instance_metadata_options(
        InstanceId=instance_id, HttpTokens="required"
    )
    assert "401 - Unauthorized" in run(f"curl -s {CREDENTIALS}").output
    assert run("aws sts get-caller-identity --query Arn --output text").exit_status == 0


def test_the_cli_uses_the_instances_role(run, on_instance, sandbox, instance_id):
    listing = run("aws configure list").output.splitlines()
    assert listing[3].split()[0] == "access_key" and listing[3].split()[2] == "iam-role"
    identity = json.loads(run("aws sts get-caller-identity").output)
    assert identity["Arn"] == f"arn:aws:sts::{sandbox.account_id}:assumed-role/app/{instance_id}"
    denied = run("aws iam list-roles")
    assert "An error occurred (AccessDenied) when calling the ListRoles operation" in denied.output
    assert "AWS_ACCESS_KEY_ID" not in run("export").output


def test_curl_reaches_nothing_but_the_metadata_service(run, on_instance):
    result = run("curl http://example.com/")
    assert result.exit_status == 7
    assert result.output.startswith("curl: (7) Failed to connect to example.com port 80")
    assert "only its metadata service" in result.output
    assert "curl: (7)" in run("curl https://169.254.169.254/latest/meta-data/").output
    assert "not available in this lab" in run(f"curl -o /tmp/x {CREDENTIALS}").output
    assert "@file values are not available" in run(f"curl -H @/etc/passwd {CREDENTIALS}").output


def test_exit_returns_to_the_workstation_and_its_variables(run, sandbox, instance_id):
    run("HOME_VAR=workstation")
    run(f"connect {instance_id}")
    assert run("echo [$HOME_VAR]").output == "[]\n"
    run("ON_INSTANCE=1")
    left = run("exit")
    assert left.prompt == "[learner@workstation ~]$" and "logout" in left.output
    assert run("echo $HOME_VAR [$ON_INSTANCE]").output == "workstation []\n"
    identity = json.loads(run("aws sts get-caller-identity").output)
    assert identity["Arn"].endswith(":user/learnlab")


def test_on_the_workstation_there_is_no_metadata_service(run):
    result = run(f"curl -s {CREDENTIALS}")
    assert result.exit_status == 28
    assert "this is your workstation, not an EC2 instance" in result.output


def test_connecting_needs_a_running_instance_of_the_sandbox(run, sandbox, instance_id):
    assert "There is no instance i-0123456789abcdef0" in run("connect i-0123456789abcdef0").output
    aws_client("ec2", sandbox=sandbox).stop_instances(InstanceIds=[instance_id])
    refused = run(f"connect {instance_id}")
    assert refused.exit_status == 1 and "stopped" in refused.output


def test_a_stopped_instance_closes_the_shell(run, on_instance, sandbox, instance_id):
    aws_client("ec2", sandbox=sandbox).stop_instances(InstanceIds=[instance_id])
    result = run("curl -s http://169.254.169.254/latest/meta-data/")
    assert "closed by remote host" in result.output
    assert result.prompt == "[learner@workstation ~]$"


def test_session_manager_start_session_connects_too(run, instance_id):
    result = run(f"aws ssm start-session --target {instance_id}")
    assert result.exit_status == 0 and result.prompt.startswith("[ec2-user@ip-")
