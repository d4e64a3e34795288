"""The terminal's `aws`: the real AWS CLI in-process, through the real gate, in the learner's
sandbox; and what it refuses before anything runs."""

import json

import pytest

from learnlab.gate.client import aws_client
from learnlab.lib.iam_policy import EC2_TRUST_POLICY

pytestmark = pytest.mark.django_db

TRUST = EC2_TRUST_POLICY  # typed inside single quotes


def test_the_documented_instance_role_commands_build_the_lab(run, sandbox):
    lines = [
        f"aws iam create-role --role-name S3Access --assume-role-policy-document '{TRUST}'",
        "aws iam attach-role-policy --role-name S3Access "
        "--policy-arn arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
        "aws iam create-instance-profile --instance-profile-name Webserver",
        "aws iam add-role-to-instance-profile --role-name S3Access "
        "--instance-profile-name Webserver",
        "aws ec2 run-instances --image-id ami-0453ec754f44f9a4a --instance-type t3.micro "
        "--iam-instance-profile Name=Webserver",
    ]
    for line in lines:
        result = run(line)
        assert result.exit_status == 0, (line, result.output)
    created = json.loads(result.output)
    instance_id = created["Instances"][0]["InstanceId"]

    iam, ec2 = aws_client("iam", sandbox=sandbox), aws_client("ec2", sandbox=sandbox)
    role = iam.get_role(RoleName="S3Access")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "ec2.amazonaws.com"
    }
    attached = iam.list_attached_role_policies(RoleName="S3Access")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AmazonS3ReadOnlyAccess"]
    profile = iam.get_instance_profile(InstanceProfileName="Webserver")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == ["S3Access"]
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert instance["IamInstanceProfile"]["Arn"].endswith(":instance-profile/Webserver")

    listed = run(
        "aws ec2 describe-instances --query 'Reservations[].Instances[].InstanceId' --output text"
    )
    assert listed.output == instance_id + "\n"


def test_associate_iam_instance_profile_with_shorthand_and_json(run, sandbox):
    run(f"aws iam create-role --role-name app --assume-role-policy-document '{TRUST}'")
    run("aws iam create-instance-profile --instance-profile-name app")
    run("aws iam add-role-to-instance-profile --role-name app --instance-profile-name app")
    instance_id = run(
        "aws ec2 run-instances --image-id ami-0453ec754f44f9a4a --instance-type t3.micro "
        "--query 'Instances[0].InstanceId' --output text"
    ).output.strip()
    result = run(
        f"aws ec2 associate-iam-instance-profile --instance-id {instance_id} "
        "--iam-instance-profile Name=app"
    )
    assert result.exit_status == 0, result.output
    assert json.loads(result.output)["IamInstanceProfileAssociation"]["State"] == "associating"
    tags = '[{"Key": "Name", "Value": "web"}]'
    as_json = run(f"aws ec2 create-tags --resources {instance_id} --tags '{tags}'")
    assert as_json.exit_status == 0, as_json.output
    as_shorthand = run(f"aws ec2 create-tags --resources {instance_id} --tags Key=team,Value=blue")
    assert as_shorthand.exit_status == 0, as_shorthand.output
    tags = aws_client("ec2", sandbox=sandbox).describe_tags()["Tags"]
    assert {(t["Key"], t["Value"]) for t in tags} == {("Name", "web"), ("team", "blue")}


def test_multi_line_commands_with_backslash_continuations(run, sandbox):
    result = run(
        "aws iam create-role \\\n"
        "    --role-name Continued \\\n"
        f"    --assume-role-policy-document '{TRUST}' \\\n"
        "    --query Role.RoleName --output text"
    )
    assert (result.exit_status, result.output) == (0, "Continued\n")


def test_query_and_the_output_formats(run):
    run(f"aws iam create-role --role-name first --assume-role-policy-document '{TRUST}'")
    run(f"aws iam create-role --role-name second --assume-role-policy-document '{TRUST}'")
    text = run("aws iam list-roles --query 'Roles[].RoleName' --output text")
    assert sorted(text.output.rstrip("\n").split("\t")) == ["first", "second"]
    table = run("aws iam list-roles --query 'Roles[].{Name: RoleName}' --output table")
    assert table.output.splitlines()[1].strip("|").strip() == "ListRoles"
    assert "|  first   |" in table.output or "|  first  |" in table.output
    as_json = json.loads(run("aws iam get-role --role-name first --query Role").output)
    assert as_json["RoleName"] == "first"


def test_an_aws_error_is_the_cli_error_line(run):
    result = run("aws iam get-role --role-name Nope")
    assert result.exit_status == 255
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith(
        "An error occurred (NoSuchEntity) when calling the GetRole operation: "
    )


def test_another_accounts_arn_is_refused_by_the_gate_as_an_aws_error(run):
    run(f"aws iam create-role --role-name app --assume-role-policy-document '{TRUST}'")
    result = run(
        "aws iam attach-role-policy --role-name app "
        "--policy-arn arn:aws:iam::123456789012:policy/Theirs"
    )
    assert result.exit_status == 255
    assert (
        "An error occurred (AccessDenied) when calling the AttachRolePolicy operation: "
    ) in result.output
    assert "sandbox is account" in result.output


def test_a_malformed_trust_policy_gets_awss_error(run):
    result = run("aws iam create-role --role-name bad --assume-role-policy-document '{not json'")
    assert "An error occurred (MalformedPolicyDocument) when calling the CreateRole" in (
        result.output
    )


def test_s3_ls_and_mb(run, sandbox):
    assert run("aws s3 mb s3://lab-bucket-1").output == "make_bucket: lab-bucket-1\n"
    assert run("aws s3 ls").output.rstrip().endswith(" lab-bucket-1")
    buckets = aws_client("s3", sandbox=sandbox).list_buckets()["Buckets"]
    assert [b["Name"] for b in buckets] == ["lab-bucket-1"]
    put = run("aws s3api put-object --bucket lab-bucket-1 --key empty.txt")
    assert put.exit_status == 0, put.output
    assert "empty.txt" in run("aws s3 ls s3://lab-bucket-1").output


def test_the_workstation_acts_as_the_lab_user(run, sandbox):
    identity = json.loads(run("aws sts get-caller-identity").output)
    assert identity["Arn"] == f"arn:aws:iam::{sandbox.account_id}:user/learnlab"
    listing = run("aws configure list").output
    assert "env" in listing.splitlines()[3] and "us-east-1" in listing


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (  # the home has no trust.json yet: the CLI's own error, not a file beside the server
            "aws iam create-role --role-name x --assume-role-policy-document file://trust.json",
            "Unable to load paramfile file://trust.json",
        ),
        (
            "aws iam create-role --role-name x --assume-role-policy-document file:///etc/passwd",
            "file:// parameters are not available in this lab outside your home directory",
        ),
        (
            "aws ec2 run-instances --image-id ami-1 --user-data fileb:///etc/passwd",
            "fileb:// parameters are not available",
        ),
        (
            "aws iam create-role --role-name x --assume-role-policy-document=FILE://x",
            "parameters are not available",
        ),
        (
            "aws iam create-role --role-name x --assume-role-policy-document https://x.test/p",
            "URLs are not available",
        ),
        ("aws iam create-role --cli-input-json '{}'", "--cli-input-json is not available"),
        ("aws iam create-role --cli-input '{}'", "--cli-input-json is not available"),
        ("aws sts get-caller-identity --debug", "--debug is not available"),
        ("aws --endpoint-url http://evil.test sts get-caller-identity", "--endpoint-url"),
        ("aws sts get-caller-identity --profile admin", "--profile is not available"),
        ("aws --ca-bundle /etc/ssl/x.pem sts get-caller-identity", "--ca-bundle"),
        ("aws lambda list-functions", "the lambda commands are not available"),
        ("aws s3 cp /etc/passwd s3://b/passwd", "aws s3 cp: not available"),
        ("aws s3 sync . s3://b", "aws s3 sync: not available"),
        ("aws s3api get-object --bucket b --key k out.txt", "it writes a file"),
        ("aws s3api put-object --bucket b --key k --body /etc/passwd", "--body is not available"),
        ("aws iam create-virtual-mfa-device --virtual-mfa-device-name m --outfile x", "--outfile"),
        ("aws ec2 get-password-data --instance-id i-1 --priv-launch-key k.pem", "reads a file"),
        ("aws configure set region eu-west-1", "only `aws configure list`"),
        ("aws configure", "only `aws configure list`"),
    ],
)
def test_what_would_touch_files_or_leave_the_sandbox_is_refused_first(run, line, says):
    result = run(line)
    assert result.exit_status != 0
    assert says in result.output
    assert "Traceback" not in result.output


def test_the_servers_aws_environment_does_not_leak_in(run, sandbox, monkeypatch, tmp_path):
    (tmp_path / "config").write_text("[default]\noutput = text\nregion = eu-west-3\n")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASERVERSERVER0000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "server-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    monkeypatch.setenv("AWS_DEFAULT_OUTPUT", "table")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_PROFILE", "server")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    result = run("aws sts get-caller-identity")
    assert result.exit_status == 0, result.output
    assert json.loads(result.output)["Account"] == sandbox.account_id
    listing = run("aws configure list").output
    assert "ap-south-1" not in listing and "eu-west-3" not in listing and "0000" not in listing


def test_exported_variables_reach_the_cli_but_not_its_escape_hatches(run, sandbox):
    result = run("AWS_DEFAULT_OUTPUT=text aws sts get-caller-identity --query Account")
    assert result.output == sandbox.account_id + "\n"
    exported = run("export AWS_DEFAULT_OUTPUT=text && aws sts get-caller-identity --query Account")
    assert exported
    assert exported.output == sandbox.account_id + "\n"
    assert (
        run(
            "export AWS_CONFIG_FILE=/etc/passwd AWS_ENDPOINT_URL=http://127.0.0.1:9 && "
            "aws sts get-caller-identity --query Account"
        ).output
        == sandbox.account_id + "\n"
    )
    assert (
        "Unable to locate credentials"
        in run("unset AWS_ACCESS_KEY_ID && aws sts get-caller-identity").output
    )


def test_help_is_short_and_local(run):
    assert "aws iam" in run("aws help").output
    assert "create-role" in run("aws iam help").output
    synopsis = run("aws iam create-role help").output
    assert "--role-name <value>" in synopsis and "[--path <value>]" in synopsis
    assert "aws-cli/1." in run("aws --version").output
    missing = run("aws iam create-role --role-name x").output
    assert "aws: error: the following arguments are required: --assume-role-policy-document" in (
        missing
    )
