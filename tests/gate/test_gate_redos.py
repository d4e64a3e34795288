"""The gate reads every JSON document in linear time: one request cannot stall the web process.

Found by a red-team review: ``parsing.json_depth`` blanked JSON strings with one regex before
counting brackets, and a value opening like JSON followed by an unterminated run of ``\\"`` made
that regex scan to the end of the text from every quote in it. 40 KB held the web process (every
learner's pages, terminal and gate calls, since ``re`` holds the GIL) for about 6 s.
"""

import subprocess
import sys
import time

import pytest

from learnlab.gate.parsing import MAX_JSON_DEPTH, json_depth
from tests.helpers import gate_client

pytestmark = pytest.mark.django_db(transaction=True)

CRAFTED = '{"' + '\\"' * 20_000  # 40 KB: an unterminated string of escaped quotes


def _client(service, gate_url, sandbox):
    return gate_client(gate_url, sandbox, service, read_timeout=120)


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ('{"a": "[[[[", "b": [[1]]}', 3),
        ('{"a\\"b": [{"c": "\\\\"}]}', 3),
        ("[]" * 1000, 1),
        ("[" * (MAX_JSON_DEPTH + 5), MAX_JSON_DEPTH + 1),  # it stops counting past the limit
        (CRAFTED, 1),
    ],
)
def test_json_depth_skips_strings_and_counts_brackets(text, depth):
    assert json_depth(text) == depth


def test_a_crafted_policy_is_answered_at_once(gate_url, make_sandbox):
    iam = _client("iam", gate_url, make_sandbox())
    started = time.monotonic()
    with pytest.raises(iam.exceptions.ClientError):  # not JSON: moto's MalformedPolicyDocument
        iam.create_policy(PolicyName="p", PolicyDocument=CRAFTED)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"one 40 KB IAM call held the web process {elapsed:.1f} s"


def test_a_crafted_bucket_policy_does_not_stall_another_client(live_server, gate_url, make_sandbox):
    """Another client (a separate process) asks for /healthz one second into the call."""
    s3 = _client("s3", gate_url, make_sandbox())
    s3.create_bucket(Bucket="redos-bucket")
    probe = subprocess.Popen(
        [sys.executable, "-c", PROBE, live_server.url + "/healthz"],
        stdout=subprocess.PIPE,
        text=True,
    )
    policy = '{"' + '\\"' * (2 * 1024 * 1024)  # 4 MiB, under S3's 5 MiB body cap
    with pytest.raises(s3.exceptions.ClientError) as refused:
        s3.put_bucket_policy(Bucket="redos-bucket", Policy=policy)
    assert "larger than LearnLab reads" in str(refused.value)
    out, _ = probe.communicate(timeout=120)
    elapsed = float(out.strip())
    assert elapsed < 1.0, f"another client's /healthz took {elapsed:.1f} s"


PROBE = """
import sys, time, urllib.error, urllib.request
time.sleep(1.0)
started = time.monotonic()
try:
    urllib.request.urlopen(sys.argv[1], timeout=120).read()
except urllib.error.HTTPError:
    pass  # any answer counts (healthz says 503 without a task cluster)
print(time.monotonic() - started)
"""
