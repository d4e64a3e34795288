"""Sandboxes: provisioned on first use, reset, reaped and rebuilt with the same keys."""

from datetime import timedelta

import pytest
from django.utils import timezone

from learnlab.gate.client import aws_client
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox import connection
from learnlab.sandbox.models import Sandbox
from learnlab.sandbox.services import (
    role_credentials_forget,
    role_credentials_mint,
    sandbox_for_learner,
    sandbox_reap,
    sandbox_reset,
)

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _roles(sandbox):
    return [r["RoleName"] for r in aws_client("iam", sandbox=sandbox).list_roles()["Roles"]]


def test_a_new_learner_gets_a_fresh_twelve_digit_account(sandbox):
    assert len(sandbox.account_id) == 12 and sandbox.account_id.isdigit()
    assert sandbox.account_id != "123456789012"
    assert _roles(sandbox) == []


def test_the_same_learner_keeps_the_same_sandbox(sandbox):
    assert sandbox_for_learner(learner=sandbox.learner).pk == sandbox.pk


def test_reset_wipes_the_sandbox_and_rotates_the_keys(sandbox):
    aws_client("iam", sandbox=sandbox).create_role(
        RoleName="before-reset", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    key_before = sandbox.lab_key().access_key_id
    sandbox_reset(sandbox=sandbox)
    assert _roles(sandbox) == []
    assert sandbox.lab_key().access_key_id != key_before
    aws_client("iam", sandbox=sandbox).create_role(
        RoleName="after-reset", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    assert _roles(sandbox) == ["after-reset"]


def test_the_reaper_drops_idle_sandboxes_and_the_learner_gets_one_back(sandbox, make_sandbox):
    busy = make_sandbox()
    Sandbox.objects.filter(pk=sandbox.pk).update(last_used_at=timezone.now() - timedelta(hours=25))
    accounts_before = connection.health()["accounts"]

    assert sandbox_reap(idle_for=timedelta(hours=24)) == 1

    sandbox.refresh_from_db()
    assert sandbox.status == Sandbox.Status.DROPPED
    assert connection.health()["accounts"] == accounts_before - 1
    assert _roles(busy) == []  # the busy one is untouched and works

    back = sandbox_for_learner(learner=sandbox.learner)
    assert back.pk == sandbox.pk and back.status == Sandbox.Status.READY
    assert _roles(back) == []


def test_the_gate_rebuilds_a_reaped_sandbox_on_its_next_call(sandbox):
    key = sandbox.lab_key().access_key_id
    Sandbox.objects.filter(pk=sandbox.pk).update(last_used_at=timezone.now() - timedelta(days=2))
    sandbox_reap(idle_for=timedelta(hours=24))
    sandbox.refresh_from_db()
    assert _roles(sandbox) == []
    sandbox.refresh_from_db()
    assert sandbox.status == Sandbox.Status.READY
    assert sandbox.lab_key().access_key_id == key


def test_the_gate_rebuilds_a_sandbox_the_server_lost(sandbox):
    # As after a sandbox server restart: the account is gone, the record is not.
    connection.account_drop(sandbox.account_id)
    sts = aws_client("sts", sandbox=sandbox)
    assert sts.get_caller_identity()["Account"] == sandbox.account_id


def test_forgotten_role_credentials_stop_working(sandbox):
    aws_client("iam", sandbox=sandbox).create_role(
        RoleName="app", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    key = role_credentials_mint(
        sandbox=sandbox, role_name="app", session_name="i-0123", duration_seconds=900
    )
    identity = aws_client("sts", sandbox=sandbox, key=key).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{sandbox.account_id}:assumed-role/app/i-0123"
    role_credentials_forget(key=key)
    with pytest.raises(connection.SandboxServerError):
        connection.admin_call(
            "DELETE", f"accounts/{sandbox.account_id}/role-credentials/{key.access_key_id}x"
        )
