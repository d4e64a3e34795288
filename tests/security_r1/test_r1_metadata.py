"""Red team R1: a hostile learner attacks the metadata tree (``imds/metadata.py``,
``imds/metadata_identity.py``, ``sandbox/instances.py``) over real HTTP with real curl, and
the gate with the identity credentials it serves, with boto3.

AWS pages followed: EC2 User Guide "Work with instance user data" (user data is limited to
16 KB in raw form; "what you give is what you get back"; application/octet-stream), "Instance
metadata categories" and "Use the Instance Metadata Service to access instance metadata"
(IMDSv2's token TTL is a whole number of seconds, 1 to 21600, else 400), "Instance identity
documents"; EC2 API Reference "Common client error codes" (AuthFailure) and the IAM/STS
InvalidClientTokenId, S3's InvalidAccessKeyId."""

import hashlib
import json
import os
import subprocess
import sys
import urllib.parse

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from learnlab.gate.client import aws_client
from learnlab.imds import metadata_identity
from learnlab.imds.services import endpoint_for
from tests.helpers import ROOT

pytestmark = pytest.mark.django_db(transaction=True)

AMI = "ami-0453ec754f44f9a4a"
RUN = {"ImageId": AMI, "InstanceType": "t3.micro", "MinCount": 1, "MaxCount": 1}


def _curl(url: str, *args: str) -> tuple[int, bytes]:
    result = subprocess.run(
        ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", *args, url],
        capture_output=True,
        timeout=30,
    )
    body, _, status = result.stdout.rpartition(b"\n")
    return int(status), body


@pytest.fixture
def imds(live_server, sandbox):
    """Launch an instance in ``sandbox`` (keyword arguments go to RunInstances) and return a
    curl of its metadata service: ``get(path, *curl_args) -> (status, body bytes)``."""

    def launch(**extra):
        ec2 = aws_client("ec2", sandbox=sandbox)
        instance_id = ec2.run_instances(**RUN, **extra)["Instances"][0]["InstanceId"]
        base = (
            f"{live_server.url}/imds/{endpoint_for(sandbox=sandbox, instance_id=instance_id).token}"
        )

        def get(path, *args):
            return _curl(base + path, *args)

        get.instance_id, get.base, get.live_server_url = instance_id, base, live_server.url
        return get

    return launch


# User data


def test_binary_user_data_comes_back_byte_for_byte(imds):
    """Attack: gzip'd user data (cloud-init accepts it) and every byte value. AWS: "User data
    is treated as opaque data: what you give is what you get back"; the service returns the
    exact octets. (Broken before e0e7d40, which wrote the text body, decoded with
    replacement characters; this is its regression test.)"""
    given = b"\x1f\x8b\x08\x00" + bytes(range(256))
    get = imds(UserData=given)
    status, body = get("/latest/user-data")
    assert status == 200
    assert body == given


def test_user_data_over_16_kib_is_refused_at_launch(sandbox):
    """Attack: 16 KiB + 1 of user data. AWS: "User data is limited to 16 KB, in raw form,
    before it is base64-encoded": RunInstances fails with a 400 client error, nothing runs."""
    ec2 = aws_client("ec2", sandbox=sandbox)
    before = len(ec2.describe_instances()["Reservations"])
    with pytest.raises(ClientError) as refused:
        ec2.run_instances(**RUN, UserData="x" * (16 * 1024 + 1))
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert len(ec2.describe_instances()["Reservations"]) == before


def test_user_data_of_exactly_16_kib_is_served_whole(imds):
    """Held: 16384 bytes of text user data, the limit itself, are served whole."""
    given = ("#!/bin/sh\n" + "e" * 16374).encode()
    assert len(given) == 16384
    status, body = imds(UserData=given.decode())("/latest/user-data")
    assert (status, body) == (200, given)


# Paths


ODD_PATHS = [
    "/latest/meta-data/../meta-data/instance-id",
    "/latest/meta-data/%2e%2e/%2e%2e/",
    "/latest/meta-data/%2E%2E%2Fdynamic",
    "//latest//meta-data//",
    "/latest/meta-data/" + "a" * 200,
    "/latest/meta-data/" + "a/" * 200,
    "/latest/meta-data/%C3%AFnstance-id",
    "/latest/meta-data/%FF%FE",
    "/latest/meta-data/%00",
    "/latest/meta-data/instance-id%0a",
    "/latest/meta-data/iam/security-credentials/%2e%2e",
    "/latest/meta-data/iam/security-credentials/app%2F..%2F",
    "/latest/dynamic/instance-identity/%2e%2e/document",
    "/latest/meta-data/tags/instance/%2F",
    "/../../etc/passwd",
    "/latest/user-data/..",
    "/latest/api/token/..",
]
# Paths too long for the test live server's own media handler (Django's LiveServerThread
# stats a file per request and raises ENAMETOOLONG past 255 bytes a segment: a harness
# artefact, not LearnLab's), so these go through Django's test client and LearnLab's views.
LONG_PATHS = [
    "/latest/meta-data/" + "a" * 8000,
    "/latest/meta-data/" + "a/" * 4000,
    "/latest/dynamic/" + "%2e%2e/" * 2000,
]


def test_odd_paths_get_a_client_error_never_a_server_error(imds, client):
    """Held: dot segments sent as-is and percent-encoded, doubled slashes, long paths and
    thousands of levels, unicode and invalid UTF-8, NUL and newline: each answers 4xx (or
    200 for a path naming a real entry), never a 5xx, a traceback or a file of the server."""
    get = imds(MetadataOptions={"InstanceMetadataTags": "enabled"})
    for path in ODD_PATHS:
        status, body = get(path, "--path-as-is")
        assert status < 500, (path, status, body[:300])
        assert b"Traceback" not in body and b"root:" not in body, path
    base = get.base.removeprefix(get.live_server_url)
    for path in LONG_PATHS:
        response = client.get(base + path)
        assert response.status_code == 404, (path[:60], response.status_code)


def test_a_token_ttl_that_is_not_plain_digits_is_refused(imds):
    """IMDSv2: the TTL is a whole number of seconds from 1 to 21600; anything else is 400
    (Missing or Invalid Parameters). Python's int() also reads '1_000'."""
    get = imds()
    status, _ = get(
        "/latest/api/token", "-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 1_000"
    )
    assert status == 400


# Tags


def test_odd_tag_keys_are_served_at_their_own_path_and_never_nest(imds):
    """Held: with instance metadata tags allowed, a 128-character key and a unicode key are
    served (percent-encoded in the URL); a key with '/' or ' ', '.' and '..' never become
    paths (AWS: such keys cannot be served), so 'a/b' is not a directory."""
    long_key, unicode_key = "k" * 128, "équipe"
    tags = [
        {"Key": long_key, "Value": "long"},
        {"Key": unicode_key, "Value": "bleue"},
        {"Key": "a/b", "Value": "slash"},
        {"Key": "a", "Value": "plain"},
        {"Key": "..", "Value": "dots"},
    ]
    get = imds(
        MetadataOptions={"InstanceMetadataTags": "enabled"},
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    assert get("/latest/meta-data/tags/instance/" + long_key) == (200, b"long")
    assert get("/latest/meta-data/tags/instance/" + urllib.parse.quote(unicode_key)) == (
        200,
        b"bleue",
    )
    listing = get("/latest/meta-data/tags/instance")[1].decode().split("\n")
    assert "a/b" not in listing and ".." not in listing
    assert get("/latest/meta-data/tags/instance/a") == (200, b"plain")
    assert get("/latest/meta-data/tags/instance/a/b")[0] == 404
    assert get("/latest/meta-data/tags/instance/a%2Fb")[0] == 404


# Identity credentials through the gate


def test_identity_credentials_are_refused_by_every_service_with_or_without_token(imds, gate_url):
    """Held: the reserved identity credentials, with their token and without it, at IAM, STS,
    EC2 and S3: each refused in that service's words for an unknown key (403), never
    served."""
    get = imds()
    status, body = get(
        "/latest/meta-data/identity-credentials/ec2/security-credentials/ec2-instance"
    )
    assert status == 200
    credentials = json.loads(body)
    calls = {
        "iam": ("list_roles", {"InvalidClientTokenId"}),
        "sts": ("get_caller_identity", {"InvalidClientTokenId"}),
        "ec2": ("describe_instances", {"AuthFailure", "InvalidClientTokenId"}),
        "s3": ("list_buckets", {"InvalidAccessKeyId", "InvalidClientTokenId"}),
    }
    for token in (credentials["Token"], None):
        for service, (call, codes) in calls.items():
            client = boto3.client(
                service,
                endpoint_url=gate_url,
                region_name="us-east-1",
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=token,
                config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
            )
            with pytest.raises(ClientError) as refused:
                getattr(client, call)()
            error = refused.value.response
            assert error["Error"]["Code"] in codes, (service, token is None, error["Error"])
            # EC2's AuthFailure is 401 (EC2 API Reference, common client errors); others 403.
            expected = 401 if service == "ec2" else 403
            assert error["ResponseMetadata"]["HTTPStatusCode"] == expected, service


# The identity key file


RACE = """
import hashlib, sys, time
from pathlib import Path
from learnlab.imds.metadata_identity import _load_or_create
start = float(sys.argv[2])
while time.time() < start:
    pass
print(hashlib.sha256(_load_or_create(Path(sys.argv[1]))).hexdigest())
"""


def test_processes_racing_to_make_the_identity_key_agree_and_it_is_owner_only(tmp_path):
    """Held: four processes making the key file at the same instant all end up signing with
    the one key that was written, and the file is 0600 (it holds a private key)."""
    import time

    path = tmp_path / metadata_identity.KEY_FILE
    start = f"{time.time() + 2:.3f}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "learnlab.settings"}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, str(path), start],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    digests = {racer.communicate(timeout=60)[0].strip() for racer in racers}
    assert len(digests) == 1
    assert digests == {hashlib.sha256(path.read_bytes()).hexdigest()}
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [metadata_identity.KEY_FILE]  # no scratch


def test_an_unwritable_data_folder_never_gives_the_learner_a_500(
    imds, settings, tmp_path, monkeypatch
):
    """Attack surface: the server's data folder cannot hold the key file (read-only mount;
    here a folder under a regular file, since the tests run as root). The identity signature
    paths must not answer 500; the rest of the tree keeps answering."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings.DATA_DIR = blocker / "data"
    monkeypatch.setattr(metadata_identity, "_signer", None)  # forget this process's key
    get = imds()
    assert get("/latest/meta-data/instance-id") == (200, get.instance_id.encode())
    for leaf in ("signature", "pkcs7", "rsa2048"):
        status, body = get(f"/latest/dynamic/instance-identity/{leaf}")
        assert status < 500, (leaf, status, body[:200])
