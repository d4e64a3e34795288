"""Several sandbox servers: each sandbox is pinned to one by its record, and every path (gate,
internal calls, the ticker, health) reaches the right one."""

import secrets

import pytest

from learnlab.gate.client import aws_client
from learnlab.learners.models import Learner
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox import connection
from learnlab.sandbox.services import sandbox_for_learner
from learnlab.site.launch import free_port_run, sandbox_server_start
from tests.helpers import launch_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_servers(settings):
    port, secret = free_port_run(2), secrets.token_hex(16)
    processes = [sandbox_server_start(port=port + index, secret=secret) for index in range(2)]
    settings.LEARNLAB_SANDBOX_URL = f"http://127.0.0.1:{port}"
    settings.LEARNLAB_SANDBOX_SECRET = secret
    settings.LEARNLAB_SANDBOX_SERVERS = 2
    yield port
    for process in processes:
        process.terminate()
        process.wait(10)


def test_sandboxes_spread_over_the_servers_and_stay_on_theirs(two_servers):
    sandboxes = [sandbox_for_learner(learner=Learner.objects.create()) for _ in range(4)]
    assert sorted(s.server for s in sandboxes) == ["0", "0", "1", "1"]  # the shorthand's names
    assert [h["accounts"] for h in connection.health_each()] == [2, 2]
    for sandbox in sandboxes:
        iam = aws_client("iam", sandbox=sandbox)
        iam.create_role(
            RoleName=f"r{sandbox.account_id}", AssumeRolePolicyDocument=EC2_TRUST_POLICY
        )
        assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == [f"r{sandbox.account_id}"]
        other = {"0": "1", "1": "0"}[sandbox.server]
        with pytest.raises(connection.SandboxServerError):
            connection.admin_call(
                "GET", f"accounts/{sandbox.account_id}/roles/r{sandbox.account_id}", server=other
            )


def test_the_ticker_and_the_metadata_service_reach_every_server(two_servers):
    from learnlab.imds.credentials import credentials_tick
    from learnlab.imds.models import InstanceCredentials

    sandboxes = [sandbox_for_learner(learner=Learner.objects.create()) for _ in range(2)]
    instances = {launch_with_role(sandbox): sandbox for sandbox in sandboxes}
    counts = credentials_tick()
    assert counts["attached"] == 2 and counts["issued"] == 2
    for instance_id, sandbox in instances.items():
        issued = InstanceCredentials.objects.get(instance_id=instance_id)
        assert issued.sandbox == sandbox
        sts = aws_client("sts", sandbox=sandbox, key=issued.access_key)
        assert sts.get_caller_identity()["Arn"].endswith(f"/app/{instance_id}")
