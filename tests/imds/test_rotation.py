"""Credentials rotate on the lab clock: at speed 360 they renew every 5-10 s and live 30 min 10 s
(the SDKs' floor); a test set made to live 20 s shows expiry."""

import json
import time
from datetime import timedelta

import pytest

from learnlab.imds.credentials import credentials_issue, credentials_renew, credentials_tick
from learnlab.imds.models import InstanceCredentials

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
CREDENTIALS = "/latest/meta-data/iam/security-credentials/s3-reader"


def _identity(aws, document):
    return aws(
        "sts", "get-caller-identity",
        key_id=document["AccessKeyId"], secret=document["SecretAccessKey"],
        token=document["Token"],
    )  # fmt: skip


def test_a_rotation_end_to_end_at_speed_360(settings, curl, aws, lab):
    settings.LEARNLAB_CLOCK_SPEED = 360
    short = timedelta(seconds=20)  # test data: a first set that expires within the test
    credentials_issue(
        sandbox=lab["sandbox"], instance_id=lab["instance_id"], role_name="s3-reader",
        lifetime=short,
    )  # fmt: skip
    first = json.loads(curl(CREDENTIALS)[1])
    assert _identity(aws, first).returncode == 0

    deadline = time.monotonic() + 20
    second = first
    while second["AccessKeyId"] == first["AccessKeyId"] and time.monotonic() < deadline:
        credentials_tick()
        time.sleep(0.5)
        second = json.loads(curl(CREDENTIALS)[1])
    assert second["AccessKeyId"] != first["AccessKeyId"], "no renewal within 20 s"
    # The new set arrived well before the old one expires, and the old one still works.
    assert second["Expiration"] > first["Expiration"]
    assert _identity(aws, first).returncode == 0
    assert _identity(aws, second).returncode == 0

    old = InstanceCredentials.objects.get(access_key__access_key_id=first["AccessKeyId"])
    while time.time() < old.expires_at.timestamp() + 1.5:
        credentials_tick()
        time.sleep(1)
    expired = _identity(aws, first)
    assert "(ExpiredToken)" in expired.stderr
    assert _identity(aws, json.loads(curl(CREDENTIALS)[1])).returncode == 0
    old.refresh_from_db()
    assert old.forgotten_at is not None  # the sandbox server no longer knows the old key


def test_two_tickers_never_both_renew_one_set(settings, curl, lab):
    settings.LEARNLAB_CLOCK_SPEED = 360
    curl(CREDENTIALS)
    # Both tickers read the set as due before either renews it.
    seen_by_first, seen_by_second = (
        InstanceCredentials.objects.get(),
        InstanceCredentials.objects.get(),
    )
    chain = {
        "sandbox": lab["sandbox"], "instance_id": lab["instance_id"], "role_name": "s3-reader"
    }  # fmt: skip
    renewal = credentials_renew(**chain, current=seen_by_first)
    assert renewal is not None
    assert credentials_renew(**chain, current=seen_by_second) is None
    assert list(InstanceCredentials.objects.filter(superseded_at=None)) == [renewal]
    assert InstanceCredentials.objects.count() == 2


def test_detaching_the_profile_stops_renewal(settings, curl, lab):
    settings.LEARNLAB_CLOCK_SPEED = 360
    curl(CREDENTIALS)
    association = lab["ec2"].describe_iam_instance_profile_associations()[
        "IamInstanceProfileAssociations"
    ][0]
    lab["ec2"].disassociate_iam_instance_profile(AssociationId=association["AssociationId"])
    InstanceCredentials.objects.update(renew_at=InstanceCredentials.objects.get().issued_at)
    assert credentials_tick()["renewed"] == 0
    assert InstanceCredentials.objects.count() == 1


def test_a_superseded_set_nobody_was_handed_is_withdrawn_and_a_fetched_one_stays_valid(
    settings, curl, aws, lab
):
    """At 360x a set lives 30 min: only sets somebody may hold stay valid that long. AWS: the
    superseded set stays valid until its Expiration (EC2 User Guide,
    iam-roles-for-amazon-ec2.md)."""
    settings.LEARNLAB_CLOCK_SPEED = 360
    fetched = json.loads(curl(CREDENTIALS)[1])  # handed out: the metadata service served it
    InstanceCredentials.objects.update(renew_at=InstanceCredentials.objects.get().issued_at)
    credentials_tick()  # supersedes the fetched set with one nobody has seen yet
    unseen = InstanceCredentials.objects.get(superseded_at=None)
    assert unseen.fetched_at is None and unseen.shown_at is None
    InstanceCredentials.objects.filter(pk=unseen.pk).update(renew_at=unseen.issued_at)
    result = credentials_tick()
    assert result["renewed"] == 1 and result["withdrawn"] == 1
    unseen.refresh_from_db()
    assert unseen.forgotten_at is not None and unseen.forgotten_at < unseen.expires_at
    key = unseen.access_key
    assert "(ExpiredToken)" in _identity(
        aws, {"AccessKeyId": key.access_key_id, "SecretAccessKey": key.secret_access_key,
              "Token": key.session_token},
    ).stderr  # fmt: skip
    assert _identity(aws, fetched).returncode == 0  # superseded too, but handed out: valid
    # The metadata service never serves a withdrawn set: the newest one, never seen, is served.
    served = json.loads(curl(CREDENTIALS)[1])
    assert served["AccessKeyId"] not in (fetched["AccessKeyId"], key.access_key_id)
