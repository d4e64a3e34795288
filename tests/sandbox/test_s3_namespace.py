"""Each sandbox has S3 bucket names of its own (``BucketNamespaces`` in
learnlab/sandbox/server.py), a documented lab deviation from AWS's one global namespace.

With moto's one namespace, dropping an account (reaping an idle sandbox, a sandbox server
restart before its rebuild) freed its names: another learner who created one meanwhile kept it,
the owner's rebuild replayed CreateBucket and PutObject into failures, and the owner lost the
bucket and its objects for good. A learner could also learn another's bucket names (AccessDenied
rather than NoSuchBucket)."""

import json

import pytest
from botocore.exceptions import ClientError

from learnlab.sandbox.models import Sandbox
from learnlab.sandbox.services import sandbox_drop, sandbox_for_learner
from tests.helpers import gate_client

pytestmark = pytest.mark.django_db(transaction=True)

BUCKET = "lab-reports"


def _s3(gate_url, sandbox):
    return gate_client(gate_url, sandbox, "s3")


def _json(result) -> dict:
    return json.loads(result.stdout)


def _buckets(s3) -> list[str]:
    return [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]


def test_a_dropped_sandboxs_bucket_comes_back_though_another_took_the_name(gate_url, make_sandbox):
    bob, alice = make_sandbox(), make_sandbox()
    _s3(gate_url, bob).create_bucket(Bucket=BUCKET)
    _s3(gate_url, bob).put_object(Bucket=BUCKET, Key="report.txt", Body=b"bob's work")

    sandbox_drop(sandbox=bob)  # what sandbox_reap does to a sandbox idle for a while
    _s3(gate_url, alice).create_bucket(Bucket=BUCKET)
    _s3(gate_url, alice).put_object(Bucket=BUCKET, Key="report.txt", Body=b"alice's work")

    bob = sandbox_for_learner(learner=bob.learner)  # Bob comes back: rebuilt from his log
    assert bob.status == Sandbox.Status.READY
    bobs = _s3(gate_url, bob)
    assert _buckets(bobs) == [BUCKET]
    assert bobs.get_object(Bucket=BUCKET, Key="report.txt")["Body"].read() == b"bob's work"
    alices = _s3(gate_url, alice)
    assert alices.get_object(Bucket=BUCKET, Key="report.txt")["Body"].read() == b"alice's work"


def test_two_sandboxes_own_a_bucket_of_the_same_name_and_see_only_their_own(gate_url, make_sandbox):
    alice, bob = (_s3(gate_url, make_sandbox()) for _ in range(2))
    for s3, name in ((alice, "alice"), (bob, "bob")):
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key=f"{name}.txt", Body=name.encode())
    assert [o["Key"] for o in alice.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["alice.txt"]
    assert [o["Key"] for o in bob.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["bob.txt"]
    with pytest.raises(ClientError) as missing:
        bob.get_object(Bucket=BUCKET, Key="alice.txt")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"

    alice.delete_object(Bucket=BUCKET, Key="alice.txt")
    alice.delete_bucket(Bucket=BUCKET)  # frees Alice's name only
    assert _buckets(alice) == []
    assert _buckets(bob) == [BUCKET]
    assert bob.get_object(Bucket=BUCKET, Key="bob.txt")["Body"].read() == b"bob"
    alice.create_bucket(Bucket=BUCKET)  # and she may take it again
    assert _buckets(alice) == [BUCKET]


def test_another_sandboxs_bucket_is_no_such_bucket(gate_url, make_sandbox):
    """Bob cannot tell that Alice has a bucket of that name: AWS's answer for no bucket."""
    alice, bob = (_s3(gate_url, make_sandbox()) for _ in range(2))
    alice.create_bucket(Bucket=BUCKET)
    alice.put_object(Bucket=BUCKET, Key="secret.txt", Body=b"alice's notes")
    for call, kwargs in (
        (bob.list_objects_v2, {"Bucket": BUCKET}),
        (bob.get_object, {"Bucket": BUCKET, "Key": "secret.txt"}),
        (bob.get_bucket_policy, {"Bucket": BUCKET}),
    ):
        with pytest.raises(ClientError) as refused:
            call(**kwargs)
        assert refused.value.response["Error"]["Code"] == "NoSuchBucket", call
    with pytest.raises(ClientError) as refused:
        bob.head_bucket(Bucket=BUCKET)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_the_labs_s3_commands_work_in_each_sandbox(aws, make_sandbox, tmp_path):
    """The AWS CLI's ``s3`` and ``s3api`` commands, in two sandboxes using one bucket name."""
    report = tmp_path / "report.txt"
    report.write_text("quarterly numbers")
    for sandbox in (make_sandbox(), make_sandbox()):
        policy = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{sandbox.account_id}:root"},
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{BUCKET}/*",
                    }
                ],
            }
        )

        def run(*args, sandbox=sandbox):
            return aws(*args, sandbox=sandbox, check=True)

        run("s3", "mb", f"s3://{BUCKET}")
        run("s3", "cp", str(report), f"s3://{BUCKET}/reports/report.txt")
        assert "reports/report.txt" in run("s3", "ls", f"s3://{BUCKET}", "--recursive").stdout
        assert run("s3", "cp", f"s3://{BUCKET}/reports/report.txt", "-").stdout == (
            "quarterly numbers"
        )
        run("s3api", "put-bucket-policy", "--bucket", BUCKET, "--policy", policy)
        stored = _json(run("s3api", "get-bucket-policy", "--bucket", BUCKET))
        assert json.loads(stored["Policy"]) == json.loads(policy)
        listed = _json(run("s3api", "list-objects-v2", "--bucket", BUCKET))
        assert [o["Key"] for o in listed["Contents"]] == ["reports/report.txt"]
        run("s3", "rm", f"s3://{BUCKET}/reports/report.txt")
        run("s3", "rb", f"s3://{BUCKET}")
        assert BUCKET not in run("s3", "ls").stdout
        run("s3", "mb", f"s3://{BUCKET}")  # kept for the next sandbox to collide with
