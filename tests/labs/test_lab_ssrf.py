"""The IMDSv2 and SSRF lab (content/imdsv2-ssrf.toml): the URL preview app, the container SDK
and the checks, on a real sandbox server through the gate and the real metadata service."""

import pytest
from botocore.utils import InstanceMetadataFetcher

from learnlab.gate.client import aws_client
from learnlab.imds.models import MetadataRequest
from learnlab.labs.checks import CHECKS, SandboxView
from learnlab.labs.preview import (
    PreviewRefused,
    container_sdk_run,
    preview_fetch,
    preview_target,
)
from learnlab.terminal.instance import MetadataTransport

pytestmark = pytest.mark.django_db
ROLE = "PreviewAppRole"
KEYS_URL = f"http://169.254.169.254/latest/meta-data/iam/security-credentials/{ROLE}"
TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
    '{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
)


def _prepared(sandbox) -> str:
    """The lab's prepared state: the role, its profile, the tagged app instance (IMDSv1 on)."""
    iam, ec2 = aws_client("iam", sandbox=sandbox), aws_client("ec2", sandbox=sandbox)
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=TRUST)
    iam.attach_role_policy(
        RoleName=ROLE, PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    )
    iam.create_instance_profile(InstanceProfileName=ROLE)
    iam.add_role_to_instance_profile(InstanceProfileName=ROLE, RoleName=ROLE)
    found = ec2.run_instances(
        ImageId="ami-0453ec754f44f9a4a",
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        IamInstanceProfile={"Name": ROLE},
        MetadataOptions={"HttpTokens": "optional", "HttpPutResponseHopLimit": 1},
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "url-preview"}]}
        ],
    )
    return found["Instances"][0]["InstanceId"]


def _check(sandbox, name: str):
    return CHECKS[name](SandboxView(sandbox))


def _options(sandbox, instance_id: str, **options) -> None:
    aws_client("ec2", sandbox=sandbox).modify_instance_metadata_options(
        InstanceId=instance_id, **options
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/aws/",
        "http://localhost/",
        "http://example.com/latest/meta-data/",
        "http://169.254.169.254.nip.io/latest/meta-data/",
        "http://169.254.169.254:8080/latest/meta-data/",
        "http://user@169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://169.254.170.2/v2/credentials",  # the ECS task metadata address: not this lab's
        "https://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "gopher://169.254.169.254/_GET",
        "",
        "not a url",
    ],
)
def test_the_preview_app_reaches_no_host_but_the_metadata_service(url):
    with pytest.raises(PreviewRefused) as refused:
        preview_target(url)
    assert "metadata service" in str(refused.value) or "URL" in str(refused.value)


def test_the_preview_app_never_reaches_the_lab_server_itself(sandbox, live_server):
    """The LearnLab server (the live test server) is a host like any other: refused, and
    nothing reaches the instance's metadata service either."""
    instance_id = _prepared(sandbox)
    for url in (live_server.url + "/", live_server.url + "/aws/", "http://[fd00:ec2::254]:81/"):
        with pytest.raises(PreviewRefused, match="only your own instance's metadata service"):
            preview_fetch(sandbox=sandbox, instance_id=instance_id, url=url)
    assert not MetadataRequest.objects.filter(sandbox=sandbox).exists()
    answer = preview_fetch(sandbox=sandbox, instance_id=instance_id, url="http://[fd00:ec2::254]/")
    assert answer.status == 200 and "latest" in answer.body


def test_the_preview_app_reads_only_the_learners_own_instance(make_sandbox):
    """Another learner's instance id is not in this sandbox: no answer of its metadata."""
    mine, theirs = make_sandbox(), make_sandbox()
    _prepared(mine)
    their_instance = _prepared(theirs)
    with pytest.raises(Exception, match="no instance"):
        preview_fetch(sandbox=mine, instance_id=their_instance, url=KEYS_URL)
    assert not MetadataRequest.objects.filter(sandbox=mine).exists()


def test_ssrf_then_imdsv2_then_the_hop_limit(sandbox):
    """Follows AWS's "Use the Instance Metadata Service to access instance metadata" and
    "Configure the instance metadata options" (EC2 User Guide): with IMDSv1 a tokenless GET
    gets the role's keys; with HttpTokens required it gets 401 while an SDK (botocore's own
    InstanceMetadataFetcher) gets a token and the keys; the token's reply has the hop limit as
    its TTL, so in a container (one hop more) it needs HttpPutResponseHopLimit 2."""
    instance_id = _prepared(sandbox)
    for name in ("imdsv1_keys_leaked", "imdsv2_required", "hop_limit_for_containers"):
        assert not _check(sandbox, name).passed, name

    leak = preview_fetch(sandbox=sandbox, instance_id=instance_id, url=KEYS_URL)
    assert leak.status == 200 and '"AccessKeyId" : "ASIA' in leak.body and "Token" in leak.body
    result = _check(sandbox, "imdsv1_keys_leaked")
    assert result.passed and "URL preview app" in result.message
    assert "HttpTokens is optional" in _check(sandbox, "imdsv2_required").message

    _options(sandbox, instance_id, HttpTokens="required")
    assert "try the attack again" in _check(sandbox, "imdsv2_required").message
    refused = preview_fetch(sandbox=sandbox, instance_id=instance_id, url=KEYS_URL)
    assert refused.status == 401 and "AccessKeyId" not in refused.body
    assert "aws sts get-caller-identity" in _check(sandbox, "imdsv2_required").message

    # The SDK on the instance itself (one hop): botocore asks for a token and gets the keys.
    fetcher = InstanceMetadataFetcher(timeout=1, num_attempts=1)
    fetcher._session = MetadataTransport(sandbox=sandbox, instance_id=instance_id)
    assert fetcher.retrieve_iam_role_credentials()["access_key"].startswith("ASIA")
    assert _check(sandbox, "imdsv2_required").passed

    # From a container: the token's reply dies after 1 hop, IMDSv1 is off: no credentials.
    run = container_sdk_run(sandbox=sandbox, instance_id=instance_id)
    assert run.access_key_id == ""
    assert run.steps[0] == "PUT /latest/api/token: no answer (timed out)"
    assert any("HTTP 401" in step for step in run.steps)
    result = _check(sandbox, "hop_limit_for_containers")
    assert not result.passed and "hop limit is 1" in result.message

    _options(sandbox, instance_id, HttpTokens="required", HttpPutResponseHopLimit=2)
    run = container_sdk_run(sandbox=sandbox, instance_id=instance_id)
    assert run.access_key_id.startswith("ASIA")
    result = _check(sandbox, "hop_limit_for_containers")
    assert result.passed and "got the keys with a token" in result.message and not result.warning

    _options(sandbox, instance_id, HttpTokens="required", HttpPutResponseHopLimit=5)
    assert "more than a container needs" in _check(sandbox, "hop_limit_for_containers").warning
    _options(sandbox, instance_id, HttpTokens="optional", HttpPutResponseHopLimit=2)
    assert not _check(sandbox, "hop_limit_for_containers").passed


def test_the_record_is_bounded_per_instance(sandbox):
    instance_id = _prepared(sandbox)
    for _ in range(MetadataRequest.KEPT + 5):
        preview_fetch(sandbox=sandbox, instance_id=instance_id, url="http://169.254.169.254/")
    kept = MetadataRequest.objects.filter(sandbox=sandbox, instance_id=instance_id)
    assert kept.count() == MetadataRequest.KEPT
    assert {r.via for r in kept} == {"preview"} and {r.token for r in kept} == {False}
