"""The metadata service over real HTTP, with real curl and real botocore."""

import json

import pytest

from learnlab.imds.metadata import _document

pytestmark = pytest.mark.django_db(transaction=True)

CREDENTIALS = "/latest/meta-data/iam/security-credentials/"


def test_imdsv1_lists_the_role_and_serves_its_credentials(curl, lab):
    status, body, headers = curl(CREDENTIALS)
    assert (status, body) == (200, "s3-reader"), (status, body, headers)
    assert headers["content-type"].startswith("text/plain")
    status, body, _ = curl(CREDENTIALS + "s3-reader")
    document = json.loads(body)
    assert list(document) == [
        "Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"
    ]  # fmt: skip
    assert document["Code"] == "Success" and document["Type"] == "AWS-HMAC"
    assert document["AccessKeyId"].startswith("ASIA")
    assert body == _document(document)  # two-space indent and ' : ' separators, as AWS
    assert document["Expiration"].endswith("Z") and len(document["Expiration"]) == 20


def test_imdsv2_token_flow_as_aws_documents_it(curl):
    status, token, headers = curl(
        "/latest/api/token", "-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 21600"
    )
    assert status == 200 and headers["x-aws-ec2-metadata-token-ttl-seconds"] == "21600"
    status, body, _ = curl("/latest/meta-data/", "-H", f"X-aws-ec2-metadata-token: {token}")
    assert status == 200 and "iam/" in body.splitlines() and "instance-id" in body.splitlines()
    status, _, _ = curl("/latest/meta-data/", "-H", "X-aws-ec2-metadata-token: forged")
    assert status == 401


@pytest.mark.parametrize("ttl", ["0", "21601", "abc", None])
def test_a_bad_token_ttl_is_a_400(curl, ttl):
    args = ["-X", "PUT"] + (["-H", f"X-aws-ec2-metadata-token-ttl-seconds: {ttl}"] if ttl else [])
    status, body, _ = curl("/latest/api/token", *args)
    assert status == 400
    assert "400 - Missing or Invalid Parameters" in body


def test_a_token_request_through_a_proxy_is_refused(curl):
    status, _, _ = curl(
        "/latest/api/token", "-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 60",
        "-H", "X-Forwarded-For: 203.0.113.9",
    )  # fmt: skip
    assert status == 403


def test_required_tokens_refuse_imdsv1(curl, lab):
    lab["ec2"].modify_instance_metadata_options(
        InstanceId=lab["instance_id"], HttpTokens="required"
    )
    status, body, _ = curl(CREDENTIALS)
    assert status == 401 and "401 - Unauthorized" in body
    _, token, _ = curl(
        "/latest/api/token", "-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 60"
    )
    assert curl(CREDENTIALS, "-H", f"X-aws-ec2-metadata-token: {token}")[:2] == (200, "s3-reader")
    lab["ec2"].modify_instance_metadata_options(
        InstanceId=lab["instance_id"], HttpTokens="optional"
    )
    assert curl(CREDENTIALS)[0] == 200


def test_the_other_documented_paths(curl, lab):
    instance_id = lab["instance_id"]
    assert curl("/latest/meta-data/instance-id")[:2] == (200, instance_id)
    assert curl("/latest/meta-data/ami-id")[1] == "ami-0453ec754f44f9a4a"
    assert curl("/latest/meta-data/instance-type")[1] == "t3.micro"
    assert curl("/latest/meta-data/placement/region")[1] == "us-east-1"
    assert curl("/latest/meta-data/placement/availability-zone/")[1].startswith("us-east-1")
    assert curl("/latest/meta-data/local-ipv4")[1].count(".") == 3
    assert curl("/latest/meta-data/hostname")[1].endswith(".ec2.internal")
    info = json.loads(curl("/latest/meta-data/iam/info")[1])
    assert info["Code"] == "Success" and info["InstanceProfileId"].startswith("AIPA")
    assert info["InstanceProfileArn"].endswith(":instance-profile/s3-reader")
    identity = json.loads(curl("/latest/dynamic/instance-identity/document")[1])
    assert identity["instanceId"] == instance_id
    assert identity["accountId"] == lab["sandbox"].account_id
    assert curl("/latest/user-data")[1] == "#!/bin/bash\necho hello"
    status, body, _ = curl("/latest/meta-data/no-such-thing")
    assert status == 404 and "<title>404 - Not Found</title>" in body


def test_without_a_profile_the_iam_tree_is_absent(curl, lab):
    association = lab["ec2"].describe_iam_instance_profile_associations()[
        "IamInstanceProfileAssociations"
    ][0]
    lab["ec2"].disassociate_iam_instance_profile(AssociationId=association["AssociationId"])
    assert "iam/" not in curl("/latest/meta-data/")[1].splitlines()
    assert curl("/latest/meta-data/iam/")[0] == 404
    assert curl(CREDENTIALS)[0] == 404


def test_a_role_ec2_may_not_assume_gives_assume_role_unauthorized_access(curl, lab):
    lab["iam"].update_assume_role_policy(
        RoleName="s3-reader",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}),
    )  # fmt: skip
    status, body, _ = curl(CREDENTIALS + "s3-reader")
    document = json.loads(body)
    assert status == 200
    assert document["Code"] == "AssumeRoleUnauthorizedAccess"
    assert document["Message"].startswith("EC2 cannot assume the role s3-reader.")


def test_a_role_removed_from_the_profile_and_a_deleted_profile(curl, lab):
    lab["iam"].remove_role_from_instance_profile(
        InstanceProfileName="s3-reader", RoleName="s3-reader"
    )
    info = json.loads(curl("/latest/meta-data/iam/info")[1])
    assert info["Code"] == "Success" and "does not contain a role" in info["Message"]
    assert curl(CREDENTIALS)[0] == 404
    lab["iam"].delete_instance_profile(InstanceProfileName="s3-reader")
    info = json.loads(curl("/latest/meta-data/iam/info")[1])
    assert info["Code"] == "InstanceProfileNotFound"


def test_a_stopped_instance_serves_no_metadata(curl, lab):
    lab["ec2"].stop_instances(InstanceIds=[lab["instance_id"]])
    status, body, _ = curl("/latest/meta-data/")
    assert status == 503 and "not running" in body


def test_botocore_finds_the_role_credentials_and_acts_with_the_roles_rights(on_instance, lab):
    out = on_instance(
        "import boto3\n"
        "session = boto3.Session()\n"
        "print(session.get_credentials().method)\n"
        "print(session.client('sts').get_caller_identity()['Arn'])\n"
        "print(session.client('s3').list_buckets()['Buckets'])\n"
        "try:\n"
        "    session.client('s3').create_bucket(Bucket='not-allowed-here')\n"
        "except Exception as error:\n"
        "    print(error.response['Error']['Code'])\n"
    )
    method, arn, buckets, denied = out.splitlines()
    assert method == "iam-role"
    account, instance_id = lab["sandbox"].account_id, lab["instance_id"]
    assert arn == f"arn:aws:sts::{account}:assumed-role/s3-reader/{instance_id}"
    assert buckets == "[]"
    assert denied == "AccessDenied"


def test_a_shell_on_the_instance_gets_its_metadata_endpoint_and_no_keys(client, sandbox_server):
    from learnlab.gate.client import aws_client
    from learnlab.sandbox.models import Sandbox

    client.get("/sandbox/panel")  # a session, a learner and a sandbox
    sandbox = Sandbox.objects.get()
    instance_id = aws_client("ec2", sandbox=sandbox).run_instances(
        ImageId="ami-0453ec754f44f9a4a", InstanceType="t3.micro", MinCount=1, MaxCount=1
    )["Instances"][0]["InstanceId"]
    text = client.get(f"/sandbox/env?instance={instance_id}").content.decode()
    names = [line.split("=")[0] for line in text.splitlines() if line.startswith("export ")]
    assert text.startswith("unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN ")
    assert names == [
        "export AWS_SHARED_CREDENTIALS_FILE",
        "export AWS_CONFIG_FILE",
        "export AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "export AWS_ENDPOINT_URL",
        "export AWS_DEFAULT_REGION",
        "export AWS_REGION",
    ]
    assert "/imds/" in text and "export AWS_ACCESS_KEY_ID" not in text


def test_another_learners_instance_or_a_bad_id_gets_a_clear_404(client, lab):
    client.get("/sandbox/panel")  # this browser's own learner and sandbox
    response = client.get(f"/sandbox/env?instance={lab['instance_id']}")
    assert response.status_code == 404
    assert b"There is no instance" in response.content
    response = client.get("/sandbox/env?instance=../../etc/passwd")
    assert response.status_code == 404
    assert b"is not an instance id" in response.content


def test_random_paths_and_headers_never_reach_a_500(client, imds_url, live_server):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    base = imds_url.removeprefix(live_server.url)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        path=st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=40),
        method=st.sampled_from(["GET", "PUT", "HEAD", "POST", "DELETE"]),
        ttl=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=8),
        token=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    )
    def probe(path, method, ttl, token):
        response = client.generic(
            method,
            f"{base}/latest/{path}",
            HTTP_X_AWS_EC2_METADATA_TOKEN_TTL_SECONDS=ttl,
            HTTP_X_AWS_EC2_METADATA_TOKEN=token,
        )
        # The instance runs and the sandbox server is up: a 503 here would be a broken server.
        assert response.status_code < 500, response.content

    probe()
