"""The gate's lab-wide limits (learnlab/gate/limits.py): the lab's region only (IAM and STS: the
aws partition's), a rate per sandbox answered with each protocol's throttling error, which
botocore retries, and a body size per protocol.

Through the gate, the rate tests use the gate's own buckets at a lower rate (``slow_gate``), one
that a test machine's calls exceed however busy it is; the default numbers are tested on the
buckets themselves, on a clock the test moves.
"""

import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from learnlab.gate import limits, services
from learnlab.gate.client import aws_client
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox.services import role_credentials_mint
from tests.helpers import gate_client

pytestmark = pytest.mark.django_db(transaction=True)

RATE, BURST = 1, 3  # slow_gate's


@pytest.fixture
def slow_gate(monkeypatch):
    monkeypatch.setattr(limits, "buckets", limits.TokenBuckets(RATE, BURST))


def _client(gate_url, sandbox, service, *, attempts=1, region="us-east-1", mode="legacy"):
    return gate_client(gate_url, sandbox, service, attempts=attempts, mode=mode, region_name=region)


# Region


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("ec2", "describe-vpcs"), "SignatureDoesNotMatch"),
        (("s3api", "list-buckets"), "AuthorizationHeaderMalformed"),
    ],
)
def test_a_region_other_than_us_east_1_is_refused(aws, sandbox, args, code):
    result = aws(*args, "--region", "eu-west-1", sandbox=sandbox)
    assert result.returncode != 0, result.stdout
    assert f"An error occurred ({code})" in result.stderr, result.stderr
    assert "LearnLab sandboxes run in us-east-1 only" in result.stderr
    aws(*args, "--region", "us-east-1", sandbox=sandbox, check=True)


@pytest.mark.parametrize("args", [("iam", "list-roles"), ("sts", "get-caller-identity")])
def test_iam_and_sts_answer_in_any_region_as_in_aws(aws, sandbox, args):
    aws(*args, "--region", "eu-west-1", sandbox=sandbox, check=True)


@pytest.fixture
def rebuilds(monkeypatch) -> list:
    """The sandbox rebuilds the gate runs (each one still made)."""
    made, rebuild = [], services.sandbox_rebuild
    monkeypatch.setattr(
        services, "sandbox_rebuild", lambda **kw: (made.append(kw["sandbox"]), rebuild(**kw))[1]
    )
    return made


@pytest.mark.parametrize("region", ["cn-north-1", "us-gov-west-1"])
@pytest.mark.parametrize("service", ["iam", "sts"])
def test_iam_and_sts_in_another_partitions_region_are_refused_not_rebuilt(
    gate_url, sandbox, rebuilds, service, region
):
    """moto keeps IAM and STS per partition: the lab key is not in an account's aws-cn backend,
    and the gate took moto's InvalidClientTokenId for a lost sandbox, rebuilding on each call."""
    client = _client(gate_url, sandbox, service, region=region)
    call = client.list_roles if service == "iam" else client.get_caller_identity
    for _ in range(3):
        with pytest.raises(ClientError) as refused:
            call()
        code, message, status = _code(refused.value.response)
        assert (code, status) == ("SignatureDoesNotMatch", 403)
        assert f"Credential should be scoped to a valid region, not '{region}'" in message
        assert "LearnLab sandboxes run in the aws partition only" in message
    assert rebuilds == []


def test_s3_in_another_region_is_refused_in_s3s_own_words(gate_url, sandbox):
    s3 = _client(gate_url, sandbox, "s3", region="ap-southeast-2")
    with pytest.raises(ClientError) as raised:
        s3.create_bucket(Bucket=f"b-{sandbox.account_id}")
    response = raised.value.response
    assert response["Error"]["Code"] == "AuthorizationHeaderMalformed"
    assert (
        "the region 'ap-southeast-2' is wrong; expecting 'us-east-1'"
        in (response["Error"]["Message"])
    )
    assert _client(gate_url, sandbox, "s3").list_buckets()["Buckets"] == []


# Rate


def _until_throttled(call, limit: int = 1000) -> tuple[int, dict]:
    """Make ``call`` until it is refused: how many got through first, and the refusal."""
    for made in range(limit):
        try:
            call()
        except ClientError as error:
            return made, error.response
    pytest.fail(f"{limit} calls and never throttled")


def _burst(client, calls: int) -> list[str]:
    """``calls`` concurrent GetCallerIdentity calls; each one's error code, or "" for success."""

    def one(_):
        try:
            client.get_caller_identity()
            return ""
        except ClientError as error:
            return error.response["Error"]["Code"]

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(calls)))


def _code(response) -> tuple[str, str, int]:
    error = response["Error"]
    return error["Code"], error["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_a_burst_from_one_sandbox_is_throttled_and_another_sandbox_is_not(
    slow_gate, gate_url, make_sandbox
):
    noisy, quiet = make_sandbox(), make_sandbox()
    through, refused = _until_throttled(_client(gate_url, noisy, "sts").get_caller_identity)
    assert through >= BURST
    assert _code(refused) == ("Throttling", "Rate exceeded", 400)
    # Another learner's sandbox has its own bucket: a whole burst of its own goes through.
    assert _burst(_client(gate_url, quiet, "sts"), BURST) == [""] * BURST


@pytest.mark.parametrize(
    ("service", "operation", "expected"),
    [
        ("iam", "list_roles", ("Throttling", "Rate exceeded", 400)),
        ("ec2", "describe_vpcs", ("RequestLimitExceeded", "Request limit exceeded.", 503)),
        ("s3", "list_buckets", ("SlowDown", "Please reduce your request rate.", 503)),
    ],
)
def test_each_protocol_throttles_in_its_own_words(
    slow_gate, gate_url, sandbox, service, operation, expected
):
    call = getattr(_client(gate_url, sandbox, service), operation)
    _through, refused = _until_throttled(call)
    assert _code(refused) == expected


@pytest.mark.parametrize("mode", ["legacy", "standard"])
def test_botocore_with_retries_gets_through_a_throttled_sandbox(slow_gate, gate_url, sandbox, mode):
    _until_throttled(_client(gate_url, sandbox, "sts").get_caller_identity)
    patient = _client(gate_url, sandbox, "sts", attempts=10, mode=mode)
    assert _burst(patient, 3) == [""] * 3
    ec2 = _client(gate_url, sandbox, "ec2", attempts=10, mode=mode)
    assert ec2.describe_vpcs()["Vpcs"]


def test_forged_requests_do_not_spend_a_learners_bucket(slow_gate, gate_url, sandbox):
    key = sandbox.lab_key()
    forged = boto3.client(
        "sts",
        endpoint_url=gate_url,
        region_name="us-east-1",
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key="wrong" * 8,
        config=Config(retries={"max_attempts": 1}),
    )
    assert set(_burst(forged, 3 * BURST)) == {"SignatureDoesNotMatch"}
    assert _burst(_client(gate_url, sandbox, "sts"), BURST) == [""] * BURST


def test_a_sandboxs_instance_credentials_share_its_bucket(gate_url, sandbox, monkeypatch):
    """Each instance's role credentials had a bucket of their own: a learner got (1 + instances)
    times the rate. Here the bucket barely refills, so one burst is all the sandbox gets."""
    aws_client("iam", sandbox=sandbox).create_role(
        RoleName="app", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    # What the lab clock hands three attached instances (it supplies up to 10 per sandbox).
    sessions = [
        role_credentials_mint(
            sandbox=sandbox, role_name="app", session_name=f"i-{n:017x}", duration_seconds=3600
        )
        for n in range(3)
    ]
    monkeypatch.setattr(limits, "buckets", limits.TokenBuckets(0.01, BURST))
    codes = []
    for key in [sandbox.lab_key(), *sessions]:
        sts = boto3.client(
            "sts",
            endpoint_url=gate_url,
            region_name="us-east-1",
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            aws_session_token=key.session_token or None,
            config=Config(retries={"max_attempts": 1}),
        )
        codes += _burst(sts, BURST)
    assert codes.count("") == BURST
    assert set(codes) == {"", "Throttling"}


# Body size


def test_iam_sts_and_ec2_bodies_past_256_kib_are_refused(gate_url, sandbox):
    """Nothing of theirs in AWS comes near (policies are 10 KiB at most, user data 16 KiB): a
    padded call is refused before the gate reads it, and before moto parses it."""
    padding = "x" * (256 * 1024)
    calls = {
        "iam": lambda iam: iam.create_role(
            RoleName="app", AssumeRolePolicyDocument=EC2_TRUST_POLICY, Description=padding
        ),
        "sts": lambda sts: sts.assume_role(
            RoleArn=f"arn:aws:iam::{sandbox.account_id}:role/app",
            RoleSessionName="lab",
            Policy=padding,
        ),
        "ec2": lambda ec2: ec2.create_security_group(GroupName="web", Description=padding),
    }
    for service, call in calls.items():
        for client in (_client(gate_url, sandbox, service), aws_client(service, sandbox=sandbox)):
            with pytest.raises(ClientError) as refused:
                call(client)
            code, message, status = _code(refused.value.response)
            assert (code, status) == ("RequestEntityTooLarge", 413), (service, message)
            assert "limited to 256 KiB" in message
    assert aws_client("iam", sandbox=sandbox).list_roles()["Roles"] == []


def test_s3_takes_bodies_up_to_5_mib(gate_url, sandbox):
    s3 = _client(gate_url, sandbox, "s3")
    bucket = f"data-{sandbox.account_id}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="one", Body=b"x" * (1024 * 1024))
    assert s3.head_object(Bucket=bucket, Key="one")["ContentLength"] == 1024 * 1024
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=bucket, Key="two", Body=b"x" * (5 * 1024 * 1024 + 1))
    assert _code(refused.value.response)[::2] == ("EntityTooLarge", 400)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_the_default_is_a_burst_of_40_then_20_a_second():
    clock = Clock()
    buckets = limits.TokenBuckets(limits.RATE, limits.BURST, clock=clock)
    assert (limits.RATE, limits.BURST) == (20, 40)
    assert [buckets.take("A") for _ in range(41)] == [True] * 40 + [False]
    assert buckets.take("B")  # a key of its own
    clock.now += 1.0
    assert sum(buckets.take("A") for _ in range(30)) == 20
    clock.now += 60.0
    assert sum(buckets.take("A") for _ in range(100)) == 40  # never more than a burst saved up


def test_learnlabs_own_calls_wait_their_turn_while_a_learners_tool_is_throttled(
    slow_gate, gate_url, sandbox
):
    """A check or a console form shares its sandbox's bucket but waits for a token (as an SDK
    backs off and retries) rather than fail the learner's click; the learner's own tools over
    HTTP are told to slow down. (Found when the lab's checks failed with Throttling under the
    per-sandbox bucket on a fast run.)"""
    own = aws_client("sts", sandbox=sandbox)
    started = time.monotonic()
    for _ in range(BURST + 2):  # two more than a burst: each waits about 1/RATE s
        assert own.get_caller_identity()["Account"] == sandbox.account_id
    assert time.monotonic() - started >= 1.5
    _through, refused = _until_throttled(_client(gate_url, sandbox, "sts").get_caller_identity)
    assert _code(refused) == ("Throttling", "Rate exceeded", 400)
