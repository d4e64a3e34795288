"""The lab clock is fair: a sandbox with many attached instances cannot delay another's
renewals, it gets credentials for ATTACHED_PER_SANDBOX of them only, and old rows are pruned.

The cap is lowered to 3 here (the sandbox server's own instance quota is 10), so a handful of
instances stand for the 800 of the finding."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from learnlab.gate.client import aws_client
from learnlab.imds import credentials
from learnlab.imds.credentials import credentials_tick
from learnlab.imds.models import InstanceCredentials
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox.models import AccessKey

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
AMI = "ami-0453ec754f44f9a4a"
CAP = 3
BUSY = 8


def _attach(sandbox, count: int) -> list[str]:
    """``count`` running instances whose profile holds a role EC2 may assume."""
    iam, ec2 = aws_client("iam", sandbox=sandbox), aws_client("ec2", sandbox=sandbox)
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.create_instance_profile(InstanceProfileName="app")
    iam.add_role_to_instance_profile(InstanceProfileName="app", RoleName="app")
    return [  # one call each: moto attaches the profile to a call's first instance only
        ec2.run_instances(
            ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1,
            IamInstanceProfile={"Name": "app"},
        )["Instances"][0]["InstanceId"]
        for _ in range(count)
    ]  # fmt: skip


def _issue_all() -> None:
    for _ in range(10):
        if not credentials_tick()["issued"]:
            return


def _live(sandbox):
    return InstanceCredentials.objects.filter(sandbox=sandbox, superseded_at=None)


@pytest.fixture
def busy_and_quiet(settings, make_sandbox, monkeypatch):
    """Sandbox A with BUSY attached instances, B with one, at 360x; first sets issued."""
    settings.LEARNLAB_CLOCK_SPEED = 360
    monkeypatch.setattr(credentials, "ATTACHED_PER_SANDBOX", CAP, raising=False)
    busy, quiet = make_sandbox(), make_sandbox()
    busy_instances, quiet_instances = _attach(busy, BUSY), _attach(quiet, 1)
    _issue_all()
    return busy, quiet, busy_instances, quiet_instances


def test_a_sandbox_gets_credentials_for_its_cap_of_instances_and_no_more(busy_and_quiet):
    busy, quiet, busy_instances, quiet_instances = busy_and_quiet
    supplied = set(_live(busy).values_list("instance_id", flat=True))
    assert supplied == set(busy_instances[:CAP])  # the first launched, and no more
    assert list(_live(quiet).values_list("instance_id", flat=True)) == quiet_instances
    InstanceCredentials.objects.update(renew_at=timezone.now())
    counts = credentials_tick()
    assert counts["renewed"] == CAP + 1
    assert counts.get("beyond_cap") == BUSY - CAP
    assert set(_live(busy).values_list("instance_id", flat=True)) == supplied  # kept


def test_the_metadata_service_says_why_an_instance_beyond_the_cap_has_no_credentials(
    busy_and_quiet,
):
    from learnlab.terminal.instance import metadata_request

    busy, _quiet, busy_instances, _ = busy_and_quiet
    answer = metadata_request(
        sandbox=busy, instance_id=busy_instances[-1], method="GET",
        path="/latest/meta-data/iam/security-credentials/app", headers={},
    )  # fmt: skip
    document = json.loads(answer.body)
    assert answer.status == 200 and document["Code"] == "InstanceLimitExceeded"
    assert f"{CAP} at a time" in document["Message"] and "AccessKeyId" not in document
    assert not InstanceCredentials.objects.filter(instance_id=busy_instances[-1]).exists()


def test_sandboxes_take_turns_so_a_quiet_sandboxs_set_is_renewed_first_round(busy_and_quiet):
    busy, quiet, _, _ = busy_and_quiet
    now = timezone.now()
    # Every set is due; the busy sandbox's have waited longest.
    InstanceCredentials.objects.filter(sandbox=busy).update(renew_at=now - timedelta(seconds=5))
    InstanceCredentials.objects.filter(sandbox=quiet).update(renew_at=now - timedelta(seconds=1))
    old = _live(quiet).get()
    credentials_tick()

    old.refresh_from_db()
    assert old.superseded_at is not None, "B's due set was not renewed in the tick"
    before = InstanceCredentials.objects.filter(
        sandbox=busy, superseded_at__lt=old.superseded_at
    ).count()
    assert before <= 1, f"{before} of A's sets were renewed before B's one"


def test_old_credential_rows_are_pruned_but_what_the_checks_read_is_kept(settings, sandbox):
    settings.LEARNLAB_CLOCK_SPEED = 360
    _attach(sandbox, 1)
    credentials_tick()
    for _ in range(3):  # three renewals: four sets
        InstanceCredentials.objects.filter(superseded_at=None).update(renew_at=timezone.now())
        credentials_tick()
    first, used, plain, current = InstanceCredentials.objects.order_by("pk")
    AccessKey.objects.filter(pk=used.access_key_id).update(last_used_at=timezone.now())
    long_ago = timezone.now() - timedelta(hours=1)  # well past PRUNE_AFTER
    InstanceCredentials.objects.exclude(pk=current.pk).update(
        expires_at=long_ago, forgotten_at=long_ago
    )
    credentials_tick()

    left = set(InstanceCredentials.objects.values_list("pk", flat=True))
    assert left == {first.pk, used.pk, current.pk}  # the first, the last used, the live one
    assert not AccessKey.objects.filter(pk=plain.access_key_id).exists()
