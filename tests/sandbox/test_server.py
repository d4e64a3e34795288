"""The sandbox server's own endpoints, against the real process."""

import json
import urllib.error
import urllib.request

import pytest

from learnlab.sandbox import connection


def _call(url, path, method="GET", secret=None, headers=None):
    request = urllib.request.Request(url + path, method=method, headers=headers or {})
    if secret:
        request.add_header("X-LearnLab-Secret", secret)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_internal_endpoints_need_the_shared_secret(sandbox_server):
    url = sandbox_server["url"]
    assert _call(url, "/_admin/health")[0] == 403
    assert _call(url, "/_admin/health", secret="guess")[0] == 403
    status, body = _call(url, "/_admin/health", secret=sandbox_server["secret"])
    assert status == 200
    assert "boot_id" in json.loads(body)


def test_moto_api_is_closed_even_on_the_loopback_port(sandbox_server):
    status, _ = _call(sandbox_server["url"], "/moto-api/reset", method="POST")
    assert status == 403


def test_aws_requests_must_name_their_account(sandbox_server):
    status, body = _call(sandbox_server["url"], "/?Action=ListRoles&Version=2010-05-08")
    assert status == 403
    assert b"must name their sandbox account" in body


def test_dropping_an_account_forgets_it_and_spares_the_others(sandbox_server):
    created = [
        connection.account_bootstrap(acct, user_name="learnlab")
        for acct in ("300000000001", "300000000002")
    ]
    before = connection.health()["accounts"]
    connection.account_drop("300000000001")
    assert connection.health()["accounts"] == before - 1
    # The survivor still answers with its keys; a re-created first account starts empty.
    again = connection.admin_call(
        "PUT",
        "accounts/300000000002",
        {"user_name": "learnlab", "access_key_id": created[1]["access_key_id"]},
    )
    assert again["access_key_id"] == created[1]["access_key_id"]
    with pytest.raises(connection.SandboxServerError) as missing:
        connection.role_get("300000000001", "anything")
    assert missing.value.status == 404


def test_bootstrap_restores_given_keys(sandbox_server):
    restored = connection.account_bootstrap(
        "300000000003",
        user_name="learnlab",
        access_key_id="AKIAQXEXAMPLE0000003",
        secret_access_key="s" * 40,
    )
    assert restored["access_key_id"] == "AKIAQXEXAMPLE0000003"
    assert restored["secret_access_key"] == "s" * 40


def test_malformed_admin_input_is_a_clear_400(sandbox_server):
    with pytest.raises(connection.SandboxServerError) as error:
        connection.admin_call("PUT", "accounts/300000000004", {"unexpected": 1})
    assert error.value.status == 400
