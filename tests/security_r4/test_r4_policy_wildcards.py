"""Red team R4: a learner's own policy text as input to LearnLab's matchers.

``lib/iam_policy.iam_glob`` turns an IAM wildcard into a backtracking regular expression
(``*`` -> ``.*``, ``?`` -> ``.``). A pattern of alternating ``*?`` that cannot match (it ends
in a character no action or ARN has) makes Python's ``re`` try every way to split the
subject: time grows by about five times with each ``*?`` pair, so ``s3:*?*?*?*?*?*?#``
(20 characters; AWS allows 6,144 in a managed policy) costs seconds per subject. Its two
users here: the least-privilege lint (``labs/checks_least_privilege.reference_findings``,
run in the web process by the lab's Check, against every action of the service) and the
sandbox server's identity-policy evaluation (``sandbox/authorization.py``, one shared process,
on every call the learner makes under the policy). Odd JSON shapes in the lint are held.
"""

import json
import time

import boto3
import pytest

from learnlab.gate.client import aws_client
from learnlab.labs.checks_least_privilege import reference_findings

# Six "*?" pairs: about 2.5 s on an idle core for the lint (12.7 s with seven); a linear
# matcher answers in well under a millisecond.
SLOW_ACTION = "s3:" + "*?" * 6 + "#"


def test_the_lint_of_a_short_wildcard_action_takes_no_noticeable_time():
    """Attack: the role's policy names ``"Action": "s3:*?*?*?*?*?*?#"`` (allowed by IAM: any
    characters, wildcards anywhere); each Check of the least-privilege step lints it.
    Expected: the lint answers as fast as for ``s3:Get*`` and says the entry matches nothing.
    Today it runs every S3 action name through ``.*..*..*..*..*..*.#`` with backtracking."""
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": SLOW_ACTION, "Resource": "*"}],
    }
    started = time.perf_counter()
    findings = reference_findings("policy app", document)
    elapsed = time.perf_counter() - started
    assert any("matches no S3 action" in f for f in findings), findings
    assert elapsed < 0.5, f"{elapsed:.2f} s for one 20-character Action entry"


ODD_DOCUMENTS = [
    {"Statement": [{"Action": 5, "Resource": {"a": 1}}]},
    {"Statement": {"Action": ["s3:GetObject"], "Resource": [5, None, {"x": 1}, ["y"]]}},
    {"Statement": [{"Action": [{"a": 1}, None, 1.5, True], "Resource": "arn:aws:s3:::b"}]},
    {"Statement": "not a list"},
    {"Statement": [None, 1, "x", []]},
    [1, 2, 3],
    "a string",
    None,
    {"Statement": [{"Action": "s3:GetObject", "Resource": ""}]},
    {"Statement": [{"Action": "s3:GetObject", "Resource": "arn:aws:s3"}]},
    {"Statement": [{"Action": ":", "Resource": "*"}]},
    {"Statement": [{"Action": "s3:", "Resource": "*"}]},
    {"Statement": [{"Action": "\u015f3:GetObject", "Resource": "*"}]},
    {"Statement": [{"Action": "s3:G\u00e9tObject", "Resource": "arn:aws:s3:::\u00e9/*"}]},
    {"Statement": [{"Action": "s3:Get\x00Object", "Resource": "arn:aws:s3:::b\x00/*"}]},
    {"Statement": [{"Action": "s3:" + "*" * 5000, "Resource": "arn:aws:s3:::b/" + "*" * 5000}]},
]


@pytest.mark.parametrize("document", ODD_DOCUMENTS, ids=range(len(ODD_DOCUMENTS)))
def test_the_lint_reads_odd_json_shapes_without_failing(document):
    """Held: non-string actions and resources, a statement that is not a list or not a dict,
    a document that is not an object, empty and truncated ARNs, non-ASCII and NUL characters,
    5,000 stars in a row: a list of findings (strings), quickly, never an exception."""
    started = time.perf_counter()
    findings = reference_findings("policy app", document)
    assert isinstance(findings, list) and all(isinstance(f, str) for f in findings)
    assert time.perf_counter() - started < 1.0


def test_the_lint_of_a_policy_at_iams_size_cap_is_quick():
    """Held: a policy of AWS's largest inline size (10,240 characters, here 672 real Action
    entries with a resource that fits none of them) lints in time linear in its entries, each entry
    named once. (10^5 entries take about 24 s on this machine, 0.24 ms each: linear, so they are
    only a cost if a sandbox accepts a policy far past IAM's size cap.)"""
    names = ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:Get*"] * 168
    document = {
        "Statement": [{"Effect": "Allow", "Action": names, "Resource": "arn:aws:iam::1:role/r"}]
    }
    assert len(json.dumps(document)) <= 10_240
    # The lint's first run imports cloudsplaining (lazily, since issue 16): not what is timed.
    reference_findings(
        "warm-up", {"Statement": [{**document["Statement"][0], "Action": names[:1]}]}
    )

    def timed(actions):
        statement = {**document["Statement"][0], "Action": actions}
        started = time.perf_counter()
        findings = reference_findings("policy app", {"Statement": [statement]})
        return findings, time.perf_counter() - started

    quarter = timed(names[: len(names) // 4])[1]
    findings, elapsed = timed(names)
    assert len(findings) == len(names), len(findings)
    # Linear: four times the entries, about four times the time (quadratic would be 16x). A
    # ratio, not a bound in seconds: this machine's speed changes from one session to another.
    assert elapsed < 8 * quarter + 0.05, f"{elapsed:.3f} s against {quarter:.3f} s for a quarter"


@pytest.mark.django_db(transaction=True)
def test_a_resource_wildcard_costs_the_sandbox_server_no_noticeable_time(sandbox, gate_url):
    """Attack: the learner gives their own IAM user an Allow on
    ``arn:aws:s3:::b/*?*?*?*?*?*?*?#`` and calls GetObject on a 60-character key with that
    user's key: the sandbox server (one process for many learners' sandboxes) evaluates the
    identity policy against the object's ARN. Expected: the denial comes back as fast as any
    other; today each evaluation backtracks through every split of the ARN."""
    iam = aws_client("iam", sandbox=sandbox)
    iam.create_user(UserName="mallory")
    pattern = "arn:aws:s3:::b/" + "*?" * 7 + "#"
    iam.put_user_policy(
        UserName="mallory",
        PolicyName="slow",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": pattern}],
            }
        ),
    )
    key = iam.create_access_key(UserName="mallory")["AccessKey"]
    s3 = boto3.client(
        "s3",
        endpoint_url=gate_url,
        region_name=sandbox.region,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    # A quick call first: the baseline (the same path, a pattern-free denial).
    started = time.perf_counter()
    with pytest.raises(s3.exceptions.ClientError):
        s3.list_buckets()
    baseline = time.perf_counter() - started
    started = time.perf_counter()
    with pytest.raises(s3.exceptions.ClientError):
        s3.get_object(Bucket="b", Key="a" * 60)
    elapsed = time.perf_counter() - started
    assert elapsed < max(1.0, 10 * baseline), f"{elapsed:.2f} s (baseline {baseline:.2f} s)"
