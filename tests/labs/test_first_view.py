"""A new learner's first lab page: the sandbox provisioned for it holds nothing yet, so the page
lists nothing through the gate (the lab page is the heaviest request of a class arriving)."""

from urllib.parse import parse_qs

import pytest

from learnlab.gate import client as gate_client
from learnlab.gate.client import aws_client
from learnlab.labs.checks import PROVISIONED_READS, SandboxView
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox.models import Sandbox

pytestmark = pytest.mark.django_db

LISTS = {"ListRoles", "ListInstanceProfiles", "DescribeInstances"}


@pytest.fixture
def gate_actions(monkeypatch):
    """The actions of the in-process gate calls made meanwhile (each still made, for real)."""
    actions = []
    real = gate_client.gate_handle

    def counted(request):
        actions.append(parse_qs(request.body.decode()).get("Action", ["?"])[0])
        return real(request)

    monkeypatch.setattr(gate_client, "gate_handle", counted)
    return actions


def test_an_account_just_provisioned_lists_what_the_first_view_assumes(make_sandbox):
    sandbox = Sandbox.objects.get(pk=make_sandbox().pk)  # as a later request loads it
    assert not sandbox.just_provisioned
    view = SandboxView(sandbox)
    read = {name: getattr(view, name) for name in PROVISIONED_READS}
    assert read == PROVISIONED_READS


def test_the_first_lab_page_lists_nothing_and_the_next_call_is_seen(
    client, sandbox_server, gate_actions
):
    assert client.get("/lab/instance-role/").status_code == 200
    assert not LISTS & set(gate_actions), gate_actions
    sandbox = Sandbox.objects.get(learner_id=client.session["learner_id"])
    aws_client("iam", sandbox=sandbox).create_role(
        RoleName="web-role", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    gate_actions.clear()
    page = client.get("/lab/instance-role/").content.decode()
    assert "ListRoles" in gate_actions  # the log moved on: read again
    assert "web-role" in page


def test_a_lab_that_sets_itself_up_is_read_on_its_first_page(client, sandbox_server, gate_actions):
    assert client.get("/lab/swap-and-pass-role/").status_code == 200
    assert set(gate_actions) - LISTS, "the lab's setup calls"
    assert LISTS & set(gate_actions), gate_actions  # what they made is read, not assumed
