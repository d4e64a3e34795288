"""A value ending in a newline is not the value: ``re.match(r"^x$", "x\\n")`` matches, because
``$`` matches before a trailing newline, so each check of outside input uses ``fullmatch``.

Regression tests (each fails on the code before the sweep): an instance id in DescribeInstances
and in the chain debugger's URL (a 500 before), a sandbox server /_admin path, a user name or
key id in a CreateAccessKey answer the gate keeps. Guards (refused before the sweep too, kept so
it stays so): the gate's region in a SigV4 scope, an instance id in the terminal's files URL, a
lab slug URL, a quiz item id."""

import botocore.exceptions
import pytest

from learnlab.gate.client import aws_client
from learnlab.gate.user_keys import user_keys_follow
from learnlab.sandbox.models import AccessKey
from tests.helpers import launch_with_role

pytestmark = pytest.mark.django_db(transaction=True)


def as_learner(client, sandbox):
    session = client.session
    session["learner_id"] = str(sandbox.learner.pk)
    session.save()
    return client


def _no_trace(response):
    text = response.content.decode(errors="replace")
    assert "Traceback" not in text
    return text


# Regression tests ------------------------------------------------------------------------


def test_describe_instances_refuses_an_id_with_a_trailing_newline_as_malformed(sandbox):
    instance = launch_with_role(sandbox, "nl")
    ec2 = aws_client("ec2", sandbox=sandbox)
    assert ec2.describe_instances(InstanceIds=[instance])["Reservations"]  # the id itself works
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        ec2.describe_instances(InstanceIds=[instance + "\n"])
    error = raised.value.response["Error"]
    assert error["Code"] == "InvalidInstanceID.Malformed", error
    assert error["Message"] == f'Invalid id: "{instance}\n"'
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        ec2.terminate_instances(InstanceIds=[instance + "\n"])
    assert raised.value.response["Error"]["Code"] == "InvalidInstanceID.Malformed"
    # Nothing was terminated by the malformed call.
    state = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "running"


def test_the_chain_debugger_refuses_an_instance_id_with_a_trailing_newline(sandbox, client):
    instance = launch_with_role(sandbox, "nlchain")
    as_learner(client, sandbox)
    assert client.get(f"/explain/instances/{instance}").status_code == 200
    response = client.get(f"/explain/instances/{instance}%0A")
    assert response.status_code == 404, response.status_code
    assert "Page not found" in _no_trace(response)


def test_the_sandbox_servers_admin_routes_refuse_a_path_with_a_trailing_newline(sandbox):
    from learnlab.sandbox import connection

    instance = launch_with_role(sandbox, "nladmin")
    assert connection.instance_get(sandbox.account_id, instance)["state"] == "running"
    with pytest.raises(connection.SandboxServerError) as raised:
        connection.instance_get(sandbox.account_id, instance + "\n")
    assert raised.value.status == 404, raised.value


def test_the_gate_keeps_no_user_key_whose_name_or_id_ends_in_a_newline(sandbox):
    key = sandbox.lab_key()
    secret = "s" * 40

    def answer(user, key_id):
        return (
            f"<CreateAccessKeyResponse><CreateAccessKeyResult><AccessKey>"
            f"<UserName>{user}</UserName><AccessKeyId>{key_id}</AccessKeyId>"
            f"<SecretAccessKey>{secret}</SecretAccessKey>"
            f"</AccessKey></CreateAccessKeyResult></CreateAccessKeyResponse>"
        ).encode()

    params = {"Action": "CreateAccessKey"}
    user_keys_follow(
        service="iam", params=params, body=answer("bob\n", "AKIAAAAABBBBCCCC1111"), key=key
    )
    user_keys_follow(
        service="iam", params=params, body=answer("bob", "AKIAAAAABBBBCCCC2222\n"), key=key
    )
    assert not AccessKey.objects.filter(access_key_id__startswith="AKIAAAAABBBBCCCC").exists()
    # The same answer without the newline is kept (so the check above can tell).
    user_keys_follow(
        service="iam", params=params, body=answer("bob", "AKIAAAAABBBBCCCC3333"), key=key
    )
    kept = AccessKey.objects.get(access_key_id="AKIAAAAABBBBCCCC3333")
    assert kept.principal_arn == f"arn:aws:iam::{sandbox.account_id}:user/bob"


# Guards ----------------------------------------------------------------------------------


def test_a_region_with_a_trailing_newline_in_the_scope_is_refused_in_words(sandbox, client):
    key = sandbox.lab_key()
    header = (
        f"AWS4-HMAC-SHA256 Credential={key.access_key_id}/20250101/us-east-1\n/ec2/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}"
    )
    response = client.post(
        "/aws/",
        data="Action=DescribeInstances&Version=2016-11-15",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=header,
        HTTP_X_AMZ_DATE="20250101T000000Z",
    )
    assert 400 <= response.status_code < 500, response.status_code
    text = _no_trace(response)
    assert "<Code>" in text and "<Message>" in text


def test_the_terminal_files_page_ignores_a_host_with_a_trailing_newline(sandbox, client):
    from learnlab.terminal.services import shell_open

    shell_open(sandbox=sandbox)
    as_learner(client, sandbox)
    response = client.get("/terminal/files/?host=i-0123456789abcdef0%0A")
    assert response.status_code < 500
    assert "i-0123456789abcdef0" not in _no_trace(response)


def test_a_lab_slug_url_with_a_trailing_newline_is_not_found(client, db):
    assert client.get("/lab/instance-role/").status_code == 200
    response = client.get("/lab/instance-role%0A/")
    assert response.status_code == 404
    assert "Page not found" in _no_trace(response)


def test_a_quiz_item_id_with_a_trailing_newline_is_not_found(client, db):
    from learnlab.quiz.bank import load_bank

    item_id = next(iter(load_bank()))
    response = client.post("/quiz/practice/", {"item": item_id + "\n", "choice": "0"})
    assert response.status_code == 404
    assert "Page not found" in _no_trace(response)
