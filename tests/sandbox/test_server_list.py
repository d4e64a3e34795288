"""The sandbox servers as a list of named URLs (LEARNLAB_SANDBOX_URLS): parsed and checked with
clear errors, the SERVERS shorthand expanded to it, each sandbox pinned by the name its record
holds (a reordered list sends nobody elsewhere), new sandboxes to the least loaded open server,
and a sandbox whose server left the list rebuilt on a listed one with the same ids."""

import secrets

import pytest

from learnlab.gate.client import aws_client
from learnlab.learners.models import Learner
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox import connection, drain
from learnlab.sandbox.models import Sandbox
from learnlab.sandbox.services import sandbox_for_learner, sandbox_rebuild_lost
from learnlab.site.launch import free_port, sandbox_server_start
from tests.helpers import launch_with_role

# --- the list itself --------------------------------------------------------------------------


def test_a_list_of_urls_each_named_by_default_by_its_host_and_port():
    servers = connection.parse_server_list(
        " http://10.0.0.5:5055 , b=HTTP://Sandbox-B.example:6000/ ,https://c.example"
    )
    assert servers == (
        connection.Server("10.0.0.5:5055", "http://10.0.0.5:5055"),
        connection.Server("b", "http://sandbox-b.example:6000"),
        connection.Server("c.example:443", "https://c.example:443"),
    )


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("", "names no server"),
        (" , ,", "names no server"),
        ("ftp://10.0.0.5:5055", "starts with http:// or https://"),
        ("10.0.0.5:5055", "starts with http:// or https://"),
        ("http://", "names a host"),
        ("http://10.0.0.5:5055/moto", "no path"),
        ("http://user:pw@10.0.0.5:5055", "no path, user or query"),
        ("http://10.0.0.5:5055?x=1", "no path, user or query"),
        ("http://10.0.0.5:notaport", "is not a URL"),
        ("a b=http://10.0.0.5:5055", "a server's name is"),
        ("a=http://10.0.0.5:5055,a=http://10.0.0.6:5055", "Two sandbox servers are named 'a'"),
        ("http://10.0.0.5:5055,b=http://10.0.0.5:5055/", "is listed twice"),
    ],
)
def test_bad_lists_are_refused_saying_what_is_wrong(value, says):
    with pytest.raises(connection.ServerListError) as refused:
        connection.parse_server_list(value)
    assert says in str(refused.value)
    assert "Traceback" not in str(refused.value)


def test_the_shorthand_is_the_same_list_on_consecutive_ports(settings):
    settings.LEARNLAB_SANDBOX_URLS = ""
    settings.LEARNLAB_SANDBOX_URL = "http://127.0.0.1:7000"
    settings.LEARNLAB_SANDBOX_SERVERS = 3
    assert connection.servers() == tuple(
        connection.Server(str(i), f"http://127.0.0.1:{7000 + i}") for i in range(3)
    )
    settings.LEARNLAB_SANDBOX_URL = "http://127.0.0.1:65535"
    with pytest.raises(connection.ServerListError, match="runs past port 65535"):
        connection.servers()


def test_the_list_and_the_shorthand_together_are_refused(settings):
    settings.LEARNLAB_SANDBOX_URLS = "http://10.0.0.5:5055"
    settings.LEARNLAB_SANDBOX_SERVERS = 2
    with pytest.raises(connection.ServerListError, match="unset LEARNLAB_SANDBOX_SERVERS"):
        connection.servers()


def test_a_server_is_found_by_name_url_or_host_and_port(settings):
    settings.LEARNLAB_SANDBOX_URLS = "a=http://10.0.0.5:5055,http://10.0.0.6:5055"
    settings.LEARNLAB_SANDBOX_SERVERS = 1
    for text in ("a", "http://10.0.0.5:5055", "http://10.0.0.5:5055/", "10.0.0.5:5055"):
        assert connection.server_find(text).name == "a"
    assert connection.server_find("10.0.0.6:5055").url == "http://10.0.0.6:5055"
    assert connection.server_find("10.0.0.7:5055") is None
    with pytest.raises(connection.ServerNotListed, match="not in the list"):
        connection.server_url("gone")


# --- real servers -----------------------------------------------------------------------------


@pytest.fixture
def two_servers(settings, db):
    """Two real sandbox servers, listed as a and b; yields set(order) to list them again."""
    secret = secrets.token_hex(16)
    ports = [free_port(), free_port()]
    processes = [sandbox_server_start(port=port, secret=secret) for port in ports]
    urls = {"a": f"http://127.0.0.1:{ports[0]}", "b": f"http://127.0.0.1:{ports[1]}"}
    settings.LEARNLAB_SANDBOX_SECRET = secret
    settings.LEARNLAB_SANDBOX_SERVERS = 1

    def listed(*names):
        settings.LEARNLAB_SANDBOX_URLS = ",".join(f"{name}={urls[name]}" for name in names)

    listed("a", "b")
    yield listed
    for process in processes:
        process.terminate()
        process.wait(10)


def _accounts(name: str) -> int:
    return connection.health(server=name)["accounts"]


def test_new_sandboxes_go_to_the_least_loaded_and_stay_pinned_when_the_list_is_reordered(
    two_servers,
):
    sandboxes = [sandbox_for_learner(learner=Learner.objects.create()) for _ in range(4)]
    assert sorted(s.server for s in sandboxes) == ["a", "a", "b", "b"]
    assert (_accounts("a"), _accounts("b")) == (2, 2)
    roles = {}
    for sandbox in sandboxes:
        iam = aws_client("iam", sandbox=sandbox)
        role = iam.create_role(RoleName="mine", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
        roles[sandbox.pk] = role["Role"]["RoleId"]

    two_servers("b", "a")  # the same servers, the other way round: positions would swap
    for sandbox in Sandbox.objects.all():
        iam = aws_client("iam", sandbox=sandbox)
        assert iam.get_role(RoleName="mine")["Role"]["RoleId"] == roles[sandbox.pk]
        assert connection.role_get(sandbox.account_id, "mine")["arn"].endswith(":role/mine")
    before = (_accounts("a"), _accounts("b"))
    newcomer = sandbox_for_learner(learner=Learner.objects.create())
    assert newcomer.server == "b"  # 2 each, and b is listed first now
    assert (_accounts("a"), _accounts("b")) == (before[0], before[1] + 1)


def test_a_draining_server_takes_no_new_sandboxes(two_servers):
    drain.server_drain_start("a")
    placed = [sandbox_for_learner(learner=Learner.objects.create()).server for _ in range(3)]
    assert placed == ["b", "b", "b"]
    drain.server_drain_cancel("a")
    assert sandbox_for_learner(learner=Learner.objects.create()).server == "a"


def test_a_sandbox_whose_server_left_the_list_is_rebuilt_on_a_listed_one(two_servers):
    drain.server_drain_start("a")  # so that this one lands on b
    sandbox = sandbox_for_learner(learner=Learner.objects.create())
    drain.server_drain_cancel("a")
    assert sandbox.server == "b"
    instance_id = launch_with_role(sandbox)
    role_id = aws_client("iam", sandbox=sandbox).get_role(RoleName="app")["Role"]["RoleId"]
    key_id = sandbox.lab_key().access_key_id

    two_servers("a")  # b left the list
    with pytest.raises(connection.ServerNotListed):
        connection.forward("POST", "/", headers={}, body=b"", server=sandbox.server)
    assert drain.sandboxes_unlisted_move() == 1
    assert drain.sandboxes_unlisted_move() == 0  # nothing left: one query a tick
    sandbox.refresh_from_db()
    assert (sandbox.server, sandbox.status) == ("a", Sandbox.Status.LOST)
    assert sandbox_rebuild_lost(budget_seconds=5) == 1  # what the clock does next

    sandbox.refresh_from_db()
    assert sandbox.status == Sandbox.Status.READY and sandbox.lab_key().access_key_id == key_id
    iam, ec2 = aws_client("iam", sandbox=sandbox), aws_client("ec2", sandbox=sandbox)
    assert iam.get_role(RoleName="app")["Role"]["RoleId"] == role_id
    reservations = ec2.describe_instances()["Reservations"]
    assert [i["InstanceId"] for r in reservations for i in r["Instances"]] == [instance_id]
    assert Sandbox.objects.filter(server="a").count() == 1
