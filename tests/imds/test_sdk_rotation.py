"""SDKs on an instance keep working across rotations at every clock speed (issue 14.1).

botocore's refresh rules are the contract: ``RefreshableCredentials`` refreshes 15 min (advisory)
and 10 min (mandatory) before Expiration, and ``InstanceMetadataFetcher._evaluate_expiration``
extends a set fetched with under 15 min + 2-10 min of jitter left ("Attempting credential
expiration extension ...") and keeps using it after the gate rejects it (botocore
``credentials.py`` and ``utils.py``; reference/imds.md §3.4-3.5). AWS: new credentials are
available at least five minutes before the old ones expire (EC2 User Guide, "IAM roles for
Amazon EC2", iam-roles-for-amazon-ec2.md, "Retrieve security credentials from instance
metadata").
"""

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from learnlab.gate.parsing import GATE_PREFIX
from learnlab.imds.credentials import credentials_issue, credentials_tick
from learnlab.imds.models import InstanceCredentials
from learnlab.lib import clock

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
CREDENTIALS = "/latest/meta-data/iam/security-credentials/s3-reader"
EXTENSION = "Attempting credential expiration extension"
VENV_BIN = Path(sys.executable).parent


def _expiration(document: dict) -> datetime:
    return datetime.strptime(document["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@pytest.fixture
def instance_shell(monkeypatch, imds_url, tmp_path):
    """This process's environment as a shell on the instance: only the metadata endpoint (as
    ``/sandbox/env?instance=`` prints it), no keys, no config files."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds_url + "/")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_METADATA_SERVICE_TIMEOUT", "5")


def _key_ids_issued(lab) -> set:
    return set(
        InstanceCredentials.objects.filter(instance_id=lab["instance_id"]).values_list(
            "access_key__access_key_id", flat=True
        )
    )


def test_boto3_on_the_instance_keeps_working_across_rotations_at_speed_360(
    settings, lab, instance_shell, live_server, curl, caplog
):
    """botocore's own InstanceMetadataProvider and RefreshableCredentials, unpatched clock:
    zero errors across two rotations, no expiration extension, and botocore's expiry is the
    document's Expiration."""
    settings.LEARNLAB_CLOCK_SPEED = 360
    caplog.set_level(logging.DEBUG, logger="botocore.credentials")
    caplog.set_level(logging.DEBUG, logger="botocore.utils")
    session = boto3.Session(region_name="us-east-1")
    credentials = session.get_credentials()
    assert credentials.method == "iam-role"  # botocore's InstanceMetadataProvider
    one_try = Config(retries={"max_attempts": 1})
    sts = session.client("sts", endpoint_url=live_server.url + GATE_PREFIX, config=one_try)
    first_key = credentials.get_frozen_credentials().access_key
    served = InstanceCredentials.objects.get(access_key__access_key_id=first_key)
    assert credentials._expiry_time == served.expires_at  # the document's Expiration, exactly

    errors, calls, served_keys = [], 0, set()
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and len(served_keys) < 3:
        credentials_tick()  # the lab clock's ticker, as the task cluster runs it each second
        served_keys.add(json.loads(curl(CREDENTIALS)[1])["AccessKeyId"])
        try:
            assert sts.get_caller_identity()["Arn"].endswith(f"/s3-reader/{lab['instance_id']}")
        except Exception as error:  # every failure counts
            errors.append(repr(error))
        calls += 1
        time.sleep(1)
    assert len(served_keys) >= 3, f"two rotations expected within 40 s, saw {served_keys}"
    assert errors == [], f"{len(errors)} of {calls} calls failed: {errors[:3]}"
    assert not [r for r in caplog.records if EXTENSION in r.getMessage()]
    # botocore holds a valid set the whole time; its expiry is still a document's Expiration.
    held = credentials.get_frozen_credentials().access_key
    row = InstanceCredentials.objects.get(access_key__access_key_id=held)
    assert credentials._expiry_time == row.expires_at
    assert row.expires_at - datetime.now(UTC) > clock.SDK_EXTENSION_WINDOW

    # A new process on the instance (a fresh session) gets the newest set and works too.
    newest = boto3.Session(region_name="us-east-1")
    newest_key = newest.get_credentials().get_frozen_credentials().access_key
    assert newest_key != first_key and newest_key in _key_ids_issued(lab)
    newest.client("sts", endpoint_url=live_server.url + GATE_PREFIX).get_caller_identity()
    assert not [r for r in caplog.records if EXTENSION in r.getMessage()]


def test_the_aws_cli_on_the_instance_works_before_and_after_a_rotation(
    settings, lab, imds_url, live_server, tmp_path, curl
):
    """Two ``aws sts get-caller-identity`` runs with the instance's environment, one before and
    one after a rotation: both succeed with the role's session (AWS CLI, botocore's chain)."""
    settings.LEARNLAB_CLOCK_SPEED = 360
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds_url,
        "AWS_ENDPOINT_URL": live_server.url + GATE_PREFIX,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }
    aws_bin = shutil.which("aws", path=str(VENV_BIN)) or "aws"

    def identity():
        result = subprocess.run(
            [aws_bin, "sts", "get-caller-identity", "--debug"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        assert EXTENSION not in result.stderr
        return json.loads(result.stdout)["Arn"]

    assert identity().endswith(f"/s3-reader/{lab['instance_id']}")
    before = json.loads(curl(CREDENTIALS)[1])["AccessKeyId"]
    deadline, after = time.monotonic() + 20, before
    while after == before and time.monotonic() < deadline:
        credentials_tick()
        time.sleep(0.5)
        after = json.loads(curl(CREDENTIALS)[1])["AccessKeyId"]
    assert after != before, "no rotation within 20 s"
    assert identity().endswith(f"/s3-reader/{lab['instance_id']}")


def test_every_offered_speed_serves_sets_beyond_the_sdks_extension_window(lab, curl, settings):
    """The least time left on a served set (from issue until its renewal) exceeds botocore's
    largest extension window (15 min + 10 min jitter) at every speed offered; and one real
    document per speed, served by the metadata service, agrees."""
    sandbox = lab["sandbox"]
    for speed in clock.SPEED_CHOICES:
        assert clock.served_remaining_min(at_speed=speed) > clock.SDK_EXTENSION_WINDOW, speed
        assert clock.renew_after(at_speed=speed) == timedelta(hours=1) / speed  # compressed
        sandbox.clock_speed = speed
        sandbox.save(update_fields=["clock_speed"])
        # Whatever is served now is due: the next tick renews it at this speed.
        InstanceCredentials.objects.update(renew_at=datetime.now(UTC) - timedelta(seconds=1))
        credentials_tick()
        document = json.loads(curl(CREDENTIALS)[1])
        row = InstanceCredentials.objects.get(access_key__access_key_id=document["AccessKeyId"])
        assert row.sandbox.lab_clock_speed == speed
        # Served at the latest until renew_at: even then more than the window is left.
        assert _expiration(document) - row.renew_at > clock.SDK_EXTENSION_WINDOW, speed
        assert _expiration(document) == row.expires_at


def test_a_cached_set_works_until_its_stated_expiry_then_fails_with_expired_token(
    lab, curl, aws, settings
):
    """An app that fetched one set and keeps it: the gate accepts it until the Expiration the
    document states and answers ExpiredToken after (STS/IAM: "The security token included in
    the request is expired"). The set is test data made to live 8 s."""
    settings.LEARNLAB_CLOCK_SPEED = 360
    credentials_issue(
        sandbox=lab["sandbox"], instance_id=lab["instance_id"], role_name="s3-reader",
        lifetime=timedelta(seconds=8),
    )  # fmt: skip
    cached = json.loads(curl(CREDENTIALS)[1])
    expiry = _expiration(cached)

    def call():
        return aws(
            "sts", "get-caller-identity", key_id=cached["AccessKeyId"],
            secret=cached["SecretAccessKey"], token=cached["Token"],
        )  # fmt: skip

    assert datetime.now(UTC) < expiry
    assert call().returncode == 0
    while datetime.now(UTC) < expiry + timedelta(seconds=1):
        time.sleep(0.5)
    failed = call()
    assert failed.returncode != 0 and "(ExpiredToken)" in failed.stderr
    # The metadata service meanwhile serves a new set (the next read issues it), which works.
    fresh = json.loads(curl(CREDENTIALS)[1])
    assert fresh["AccessKeyId"] != cached["AccessKeyId"]
    assert _expiration(fresh) - datetime.now(UTC) > clock.SDK_EXTENSION_WINDOW
