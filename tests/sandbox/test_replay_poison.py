"""A replay can never poison a sandbox or stall the others: calls moto cannot replay
faithfully are not recorded, a failed replayed call is one failed call, the log is capped,
and a rebuild that failed backs off while reset still works."""

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from django.utils import timezone

from learnlab.gate.client import aws_client
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox import connection
from learnlab.sandbox.calls import RecordedCall
from learnlab.sandbox.models import Sandbox, SandboxCall
from learnlab.sandbox.services import (
    sandbox_call_record,
    sandbox_rebuild,
    sandbox_rebuild_lost,
    sandbox_reset,
)
from tests.helpers import free_port

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

# The cap's figures, named here so this file runs (and fails) on code without a cap.
LOG_MAX_CALLS = 2000
LOG_MAX_BYTES = 4 * 1024 * 1024


def _roles(sandbox) -> list[str]:
    return [r["RoleName"] for r in aws_client("iam", sandbox=sandbox).list_roles()["Roles"]]


def poison_call(sandbox, bucket: str) -> SandboxCall:
    """A CompleteMultipartUpload as older code recorded it: its upload id never exists again."""
    body = (
        "<CompleteMultipartUpload><Part><ETag>0123456789abcdef0123456789abcdef</ETag>"
        "<PartNumber>1</PartNumber></Part></CompleteMultipartUpload>"
    )
    return SandboxCall(
        sandbox=sandbox,
        action="POST",
        method="POST",
        path=f"/{bucket}/big.bin?uploadId=bm90LWZyb20tdGhlLXNlZWQ",
        headers={"content-type": "application/xml"},
        body=body.encode(),
        scope="us-east-1/s3",
        seed=1,
    )


def _build(sandbox) -> str:
    bucket = f"notes-{sandbox.account_id}"
    aws_client("iam", sandbox=sandbox).create_role(
        RoleName="app", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    s3 = aws_client("s3", sandbox=sandbox)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"kept")
    return bucket


def _as_after_a_restart(sandbox) -> None:
    connection.account_drop(sandbox.account_id)


def test_s3_multipart_calls_are_not_recorded_for_replay(sandbox):
    # The gate refuses multipart uploads now; this layer must not record them either, as
    # moto draws their upload ids from os.urandom, never from the call's seed.
    bucket = f"notes-{sandbox.account_id}"
    calls = [
        ("POST", f"/{bucket}/big.bin?uploads"),
        ("PUT", f"/{bucket}/big.bin?partNumber=1&uploadId=abc"),
        ("POST", f"/{bucket}/big.bin?uploadId=abc"),
        ("DELETE", f"/{bucket}/big.bin?uploadId=abc"),
        ("PUT", f"/{bucket}/a.txt"),
    ]
    for method, path in calls:
        sandbox_call_record(
            sandbox=sandbox,
            call=RecordedCall(
                method=method, path=path, headers={}, body=b"kept", scope="us-east-1/s3", seed=1
            ),
        )
    recorded = SandboxCall.objects.filter(sandbox=sandbox).values_list("path", flat=True)
    assert list(recorded) == [f"/{bucket}/a.txt"]


def test_a_replayed_call_that_fails_is_one_failed_call_not_a_dropped_sandbox(sandbox):
    bucket = _build(sandbox)
    poison_call(sandbox, bucket).save()
    aws_client("iam", sandbox=sandbox).create_role(
        RoleName="after", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    _as_after_a_restart(sandbox)

    sandbox_rebuild(sandbox=sandbox)

    assert sorted(_roles(sandbox)) == ["after", "app"]
    health = connection.health()
    assert health["accounts"] >= 1


def test_a_full_replay_log_refuses_changes_until_reset(sandbox):
    iam = aws_client("iam", sandbox=sandbox)
    iam.create_role(RoleName="first", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    sandbox.refresh_from_db()
    assert sandbox.log_calls == 1 and sandbox.log_bytes > 100
    for full in ({"log_calls": LOG_MAX_CALLS}, {"log_bytes": LOG_MAX_BYTES}):
        Sandbox.objects.filter(pk=sandbox.pk).update(**full)
        with pytest.raises(ClientError) as refused:
            iam.create_role(RoleName="second", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
        assert refused.value.response["Error"]["Code"] == "LimitExceeded"
        assert "Reset the lab" in refused.value.response["Error"]["Message"]
        assert _roles(sandbox) == ["first"]  # reads still work
        Sandbox.objects.filter(pk=sandbox.pk).update(log_calls=0, log_bytes=0)
    Sandbox.objects.filter(pk=sandbox.pk).update(log_calls=LOG_MAX_CALLS)

    sandbox_reset(sandbox=sandbox)

    sandbox.refresh_from_db()
    assert (sandbox.log_calls, sandbox.log_bytes) == (0, 0)
    aws_client("iam", sandbox=sandbox).create_role(
        RoleName="fresh", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    assert _roles(sandbox) == ["fresh"]


def test_a_failed_rebuild_backs_off_and_reset_still_works(sandbox, settings):
    aws_client("iam", sandbox=sandbox).create_role(
        RoleName="app", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    _as_after_a_restart(sandbox)
    Sandbox.objects.filter(pk=sandbox.pk).update(status=Sandbox.Status.LOST)
    real_url = settings.LEARNLAB_SANDBOX_URL
    settings.LEARNLAB_SANDBOX_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens

    assert sandbox_rebuild_lost(budget_seconds=5) == 0

    sandbox.refresh_from_db()
    assert sandbox.rebuild_failures == 1 and sandbox.rebuild_after > timezone.now()
    settings.LEARNLAB_SANDBOX_URL = real_url
    # Backing off: neither the clock nor the gate's lazy rebuild tries again yet.
    assert sandbox_rebuild_lost(budget_seconds=5) == 0
    with pytest.raises(ClientError) as waiting:
        aws_client("iam", sandbox=sandbox).list_roles()
    assert waiting.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    sandbox.refresh_from_db()
    assert sandbox.status == Sandbox.Status.LOST
    # Once the backoff is over the clock rebuilds it.
    Sandbox.objects.filter(pk=sandbox.pk).update(rebuild_after=timezone.now())
    assert sandbox_rebuild_lost(budget_seconds=5) == 1
    assert _roles(sandbox) == ["app"]


def test_reset_works_on_a_lost_sandbox_backing_off(sandbox):
    bucket = _build(sandbox)
    poison_call(sandbox, bucket).save()
    _as_after_a_restart(sandbox)
    Sandbox.objects.filter(pk=sandbox.pk).update(
        status=Sandbox.Status.LOST,
        rebuild_failures=7,
        rebuild_after=timezone.now() + timedelta(minutes=5),
    )
    sandbox.refresh_from_db()

    sandbox_reset(sandbox=sandbox)

    sandbox.refresh_from_db()
    assert sandbox.status == Sandbox.Status.READY and sandbox.rebuild_after is None
    assert _roles(sandbox) == []


def test_recorded_headers_count_towards_the_log_size(sandbox):
    """Every x-amz-* header is kept for replay, so padding a call with headers must cost its
    share of the log's bytes (found in review: only the body and path counted)."""
    iam = aws_client("iam", sandbox=sandbox)

    def pad(request, **_):
        for number in range(8):
            request.headers[f"x-amz-meta-pad-{number}"] = "x" * 4000

    iam.meta.events.register("before-sign.iam.CreateRole", pad)
    try:
        iam.create_role(RoleName="padded", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    finally:
        iam.meta.events.unregister("before-sign.iam.CreateRole", pad)
    sandbox.refresh_from_db()
    assert sandbox.log_calls == 1
    assert sandbox.log_bytes > 8 * 4000
