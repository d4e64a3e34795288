"""The gate's lab-wide limits (learnlab/gate/limits.py): the lab's region only, and a rate per
access key answered with each protocol's throttling error, which botocore retries.

Through the gate, the rate tests use the gate's own buckets at a lower rate (``slow_gate``), one
that a test machine's calls exceed however busy it is; the default numbers are tested on the
buckets themselves, on a clock the test moves.
"""

from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from learnlab.gate import limits

pytestmark = pytest.mark.django_db(transaction=True)

RATE, BURST = 1, 3  # slow_gate's


@pytest.fixture
def slow_gate(monkeypatch):
    monkeypatch.setattr(limits, "buckets", limits.TokenBuckets(RATE, BURST))


def _client(gate_url, sandbox, service, *, attempts=1, region="us-east-1", mode="legacy"):
    key = sandbox.lab_key()
    return boto3.client(
        service,
        endpoint_url=gate_url,
        region_name=region,
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        config=Config(
            retries={"max_attempts": attempts, "mode": mode}, s3={"addressing_style": "path"}
        ),
    )


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


def test_a_burst_from_one_key_is_throttled_and_another_key_is_not(
    slow_gate, gate_url, make_sandbox
):
    noisy, quiet = make_sandbox(), make_sandbox()
    through, refused = _until_throttled(_client(gate_url, noisy, "sts").get_caller_identity)
    assert through >= BURST
    assert _code(refused) == ("Throttling", "Rate exceeded", 400)
    # Another learner's key has its own bucket: a whole burst of its own goes through.
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
def test_botocore_with_retries_gets_through_a_throttled_key(slow_gate, gate_url, sandbox, mode):
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
