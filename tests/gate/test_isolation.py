"""Two learners cannot see or touch each other's resources by any route."""

import contextlib
import json
import urllib.error
import urllib.request

import pytest

from learnlab.gate.client import aws_client
from tests.conftest import EC2_TRUST, json_out

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice(make_sandbox):
    return make_sandbox()


@pytest.fixture
def bob(make_sandbox):
    return make_sandbox()


def test_each_learner_has_their_own_account(alice, bob):
    assert alice.account_id != bob.account_id
    assert alice.lab_key().access_key_id != bob.lab_key().access_key_id


def test_one_learners_roles_are_invisible_to_another(aws, alice, bob):
    aws(
        "iam",
        "create-role",
        "--role-name",
        "alices-role",
        "--assume-role-policy-document",
        EC2_TRUST,
        sandbox=alice,
        check=True,
    )
    assert json_out(aws("iam", "list-roles", sandbox=bob))["Roles"] == []
    assert (
        "(NoSuchEntity)" in aws("iam", "get-role", "--role-name", "alices-role", sandbox=bob).stderr
    )
    assert aws("iam", "delete-role", "--role-name", "alices-role", sandbox=bob).returncode != 0
    assert [r["RoleName"] for r in json_out(aws("iam", "list-roles", sandbox=alice))["Roles"]] == [
        "alices-role"
    ]


def test_assuming_a_role_in_another_sandbox_is_denied(aws, alice, bob):
    trust_everyone = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
            ],
        }
    )
    aws(
        "iam",
        "create-role",
        "--role-name",
        "open-door",
        "--assume-role-policy-document",
        trust_everyone,
        sandbox=alice,
        check=True,
    )
    result = aws(
        "sts",
        "assume-role",
        "--role-arn",
        f"arn:aws:iam::{alice.account_id}:role/open-door",
        "--role-session-name",
        "escape",
        sandbox=bob,
    )
    assert "(AccessDenied)" in result.stderr


@contextlib.contextmanager
def extra_header(client, name: str, value: str):
    """Add a header to the client's requests; the shared gate client outlives this test."""
    handler_id = f"test-header-{name}"
    client.meta.events.register(
        "before-sign.*.*",
        lambda request, **kw: request.headers.__setitem__(name, value),
        unique_id=handler_id,
    )
    try:
        yield client
    finally:
        client.meta.events.unregister("before-sign.*.*", unique_id=handler_id)


def test_a_forged_account_header_is_refused(gate_url, alice, bob):
    """The gate decides the account from the key; a learner's header naming another account is
    refused without repeating it."""
    aws_client("iam", sandbox=alice).create_role(
        RoleName="alices-role", AssumeRolePolicyDocument=EC2_TRUST
    )
    iam = aws_client("iam", sandbox=bob)
    with (
        extra_header(iam, "x-moto-account-id", alice.account_id),
        pytest.raises(iam.exceptions.ClientError) as refused,
    ):
        iam.list_roles()
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert alice.account_id not in str(refused.value)


def test_s3_objects_stay_in_their_sandbox(aws, alice, bob, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("alice's notes")
    aws("s3", "mb", "s3://alices-bucket-1", sandbox=alice, check=True)
    aws("s3", "cp", str(secret), "s3://alices-bucket-1/secret.txt", sandbox=alice, check=True)
    read = aws("s3", "cp", "s3://alices-bucket-1/secret.txt", "-", sandbox=bob)
    assert read.returncode != 0
    assert "alice's notes" not in read.stdout
    assert "alices-bucket-1" not in aws("s3", "ls", sandbox=bob).stdout


def test_pages_show_each_browser_only_its_own_keys(live_server, sandbox_server):
    def env_for_new_browser():
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        first = opener.open(live_server.url + "/sandbox/env").read().decode()
        again = opener.open(live_server.url + "/sandbox/env").read().decode()
        assert first == again  # the same browser keeps its sandbox
        return first

    one, two = env_for_new_browser(), env_for_new_browser()
    assert one != two
    key_one = next(line for line in one.splitlines() if "AWS_ACCESS_KEY_ID" in line)
    assert key_one not in two


def test_a_guessed_gate_secret_header_earns_nothing(gate_url, alice, bob):
    """Only the gate vouches for a request; a learner's own secret header is dropped."""
    with extra_header(aws_client("iam", sandbox=bob), "X-LearnLab-Secret", "guess") as iam:
        assert iam.list_roles()["Roles"] == []


@pytest.mark.parametrize("admin", ["_admin", "%5Fadmin", "%5fadmin", "/_admin", "%2F_admin"])
def test_a_signed_request_cannot_reach_the_internal_endpoints(live_server, alice, bob, admin):
    """The gate vouches for what it forwards with the shared secret: however the path is
    spelled, an internal endpoint (here: another learner's role credentials) stays out of reach."""
    import urllib3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    aws_client("iam", sandbox=bob).create_role(RoleName="bobs", AssumeRolePolicyDocument=EC2_TRUST)
    key = alice.lab_key()
    url = f"{live_server.url}/aws/{admin}/accounts/{bob.account_id}/roles/bobs"
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials(key.access_key_id, key.secret_access_key), "iam", "us-east-1").add_auth(
        request
    )
    answer = urllib3.request("GET", url, headers=dict(request.headers.items()), retries=False)
    assert answer.status == 403, answer.data
    assert b"arn:aws:iam::" not in answer.data


def test_the_sandbox_server_refuses_internal_calls_that_name_an_account(sandbox_server, bob):
    answer = urllib.request.Request(
        f"{sandbox_server['url']}/_admin/accounts/{bob.account_id}/instance-profiles/x",
        headers={"X-LearnLab-Secret": sandbox_server["secret"], "X-Moto-Account-Id": "1" * 12},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(answer)
    assert refused.value.code == 403


def test_lab_keys_do_not_follow_from_the_account_id(sandbox_server):
    from learnlab.sandbox import connection

    keys = []
    for _ in range(2):
        keys.append(
            connection.admin_call("PUT", "accounts/300000000099", {"user_name": "learnlab"})
        )
        connection.admin_call("DELETE", "accounts/300000000099")
    assert keys[0]["access_key_id"] != keys[1]["access_key_id"]
    assert keys[0]["secret_access_key"] != keys[1]["secret_access_key"]
