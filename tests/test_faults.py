"""Faults in a running class, done for real: `kill -9` of the sandbox server and of the task
cluster under `manage.py runstack` (what `make run` starts), with learners mid-lab."""

import json
import os
import re
import signal
import time
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path

import boto3
import pytest
import urllib3
from botocore.config import Config

from learnlab.gate.parsing import GATE_PREFIX
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.site.launch import free_port, healthz, stack_env, stack_start, stack_stop, stack_wait
from tests.helpers import process_cmdline, process_descendants

pytestmark = pytest.mark.e2e

LEARNERS = 6
STEPS = ("create-role", "create-instance-profile", "attach-to-instance")
REBUILD_WITHIN_SECONDS = 10.0
TICK_SECONDS = 1.0


class Learner:
    """A learner's browser (cookies, CSRF) and AWS CLI keys, against the running stack."""

    def __init__(self, base: str, number: int):
        self.base, self.number = base, number
        self.http = urllib3.PoolManager(retries=False, timeout=20)
        self.cookies: dict[str, str] = {}

    def get(self, path: str, **headers):
        return self._request("GET", path, headers)

    def post(self, path: str):
        headers = {"X-CSRFToken": self.cookies["csrftoken"], "Referer": self.base}
        return self._request("POST", path, headers | {"HX-Request": "true"})

    def _request(self, method, path, headers):
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = self.http.request(
            method, self.base + path, headers={"Cookie": cookie, **headers}, redirect=False
        )
        for header in response.headers.getlist("Set-Cookie"):
            self.cookies |= {name: m.value for name, m in SimpleCookie(header).items()}
        return response

    def aws(self, service: str, **keys):
        if not self.cookies:
            self.get("/sandbox/panel")  # a session, a learner and a sandbox
        env = self.get("/sandbox/env").data.decode()
        values = dict(re.findall(r"export (\w+)='?([^'\n]*)'?", env))
        keys = keys or {
            "aws_access_key_id": values["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": values["AWS_SECRET_ACCESS_KEY"],
        }
        return boto3.client(
            service,
            endpoint_url=self.base + GATE_PREFIX,
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}),
            **keys,
        )

    def do_steps_1_to_3(self) -> None:
        assert self.get("/lab/instance-role/").status == 200
        iam, name = self.aws("iam"), f"app{self.number}"
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=EC2_TRUST_POLICY)
        iam.attach_role_policy(
            RoleName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
        )
        iam.create_instance_profile(InstanceProfileName=name)
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
        self.instance_id = self.aws("ec2").run_instances(
            ImageId="ami-0453ec754f44f9a4a",
            InstanceType="t3.micro",
            MinCount=1,
            MaxCount=1,
            IamInstanceProfile={"Name": name},
        )["Instances"][0]["InstanceId"]
        for step in STEPS:
            assert "Passed" in self.post(f"/lab/instance-role/steps/{step}/check").data.decode()

    def instance_ids(self) -> list[str]:
        reservations = self.aws("ec2").describe_instances()["Reservations"]
        return [i["InstanceId"] for r in reservations for i in r["Instances"]]

    def steps_passed(self) -> int:
        return self.get("/lab/instance-role/progress").data.decode().count('class="is-passed"')

    def metadata_credentials(self) -> dict:
        """What `curl` on the instance gets from its metadata service (IMDSv2)."""
        shell = self.get(f"/sandbox/env?instance={self.instance_id}").data.decode()
        # The endpoint has no trailing slash, as AWS documents AWS_EC2_METADATA_SERVICE_ENDPOINT
        imds = re.search(r"AWS_EC2_METADATA_SERVICE_ENDPOINT='?([^'\n]+)", shell)[1].rstrip("/")
        answer = self.http.request(
            "PUT",
            imds + "/latest/api/token",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"},
        )
        assert answer.status == 200, answer.data[:200]
        token = answer.data.decode()
        path = imds + f"/latest/meta-data/iam/security-credentials/app{self.number}"
        answer = self.http.request("GET", path, headers={"X-aws-ec2-metadata-token": token})
        assert answer.status == 200, answer.data
        return json.loads(answer.data)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    port = free_port()
    env = stack_env(
        port=port,
        data_dir=tmp_path_factory.mktemp("faults"),
        LEARNLAB_CLOCK_SPEED="360",  # credentials live 60 s, renewed every 5-10 s
        WEB_CONCURRENCY="2",
    )
    process = stack_start(env)
    try:
        stack_wait(process, port)
        base = f"http://127.0.0.1:{port}"
        learners = [Learner(base, number) for number in range(LEARNERS)]
        for learner in learners:
            learner.do_steps_1_to_3()
        yield {"port": port, "pid": process.pid, "learners": learners}
    finally:
        stack_stop(process, signal.SIGTERM, timeout=20)


def _child_running(stack, marker: bytes) -> int:
    """The pid of the supervisor's child whose command line holds ``marker``."""
    supervisor_children = [
        pid
        for pid in process_descendants(stack["pid"])
        if marker in process_cmdline(pid) and _parent(pid) == stack["pid"]
    ]
    assert len(supervisor_children) == 1, supervisor_children
    return supervisor_children[0]


def _parent(pid: int) -> int:
    try:
        return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def test_kill_9_of_the_sandbox_server_rebuilds_every_sandbox_and_loses_no_step(stack):
    learners = stack["learners"]
    before = {learner.number: learner.instance_ids() for learner in learners}
    credentials_before = learners[1].metadata_credentials()
    server = _child_running(stack, b"learnlab.sandbox.server")

    os.kill(server, signal.SIGKILL)
    killed_at = time.monotonic()
    # Meanwhile learner 0 keeps its lab page open: a reconnecting state, never an error.
    pages, rebuilt_after = [], None
    while time.monotonic() - killed_at < 30:
        page = learners[0].get("/lab/instance-role/")
        pages.append((page.status, 'data-testid="reconnecting"' in page.data.decode()))
        _status, health = healthz(stack["port"])
        sandbox = (health or {}).get("sandbox_server", {})
        if sandbox.get("ok") and sandbox["accounts"] >= LEARNERS and sandbox["rebuilding"] == 0:
            rebuilt_after = time.monotonic() - killed_at
            break
        time.sleep(0.2)

    assert rebuilt_after is not None and rebuilt_after < REBUILD_WITHIN_SECONDS, pages
    assert all(status == 200 for status, _ in pages), pages
    assert any(reconnecting for _, reconnecting in pages), f"the outage was never seen: {pages}"
    assert _child_running(stack, b"learnlab.sandbox.server") != server
    for learner in learners:
        assert learner.instance_ids() == before[learner.number]  # same resources, same ids
        assert learner.steps_passed() == len(STEPS)
    # The instance's credentials were brought back too: the set served before the kill (alive
    # for 60 s at this speed) and the one served now both work.
    credentials = learners[1].metadata_credentials()
    for served in (credentials_before, credentials):
        sts = learners[1].aws(
            "sts",
            aws_access_key_id=served["AccessKeyId"],
            aws_secret_access_key=served["SecretAccessKey"],
            aws_session_token=served["Token"],
        )
        assert ":assumed-role/app1/" in sts.get_caller_identity()["Arn"]


def test_kill_9_of_the_task_cluster_restarts_it_and_rotation_catches_up(stack):
    learner = stack["learners"][2]
    cluster = _child_running(stack, b"qcluster")
    workers = process_descendants(cluster)
    samples = []  # (wall clock, AccessKeyId, Expiration)

    def sample():
        credentials = learner.metadata_credentials()
        expiration = datetime.strptime(credentials["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
        samples.append((datetime.now(UTC), credentials["AccessKeyId"], expiration))

    os.kill(cluster, signal.SIGKILL)
    killed_at = time.monotonic()
    back_at = None
    while time.monotonic() - killed_at < 60:
        sample()
        _status, health = healthz(stack["port"])
        age = (health or {}).get("task_cluster", {}).get("last_heartbeat_age_s")
        if (
            back_at is None
            and age is not None
            and age < TICK_SECONDS
            and time.monotonic() - killed_at > 2
        ):
            back_at = datetime.now(UTC)
            back_monotonic = time.monotonic()
        if back_at is not None and time.monotonic() - back_monotonic > 15:
            break
        time.sleep(0.25)

    assert back_at is not None, "the task cluster did not come back within a minute"
    assert _child_running(stack, b"qcluster") != cluster
    assert not [pid for pid in workers if (Path("/proc") / str(pid)).exists()], "orphans"
    late = [
        (at, key, expiration)
        for at, key, expiration in samples
        if (at - back_at).total_seconds() > TICK_SECONDS + 0.5
        and expiration.replace(tzinfo=UTC) <= at
    ]
    assert late == [], "expired credentials served a tick after the clock was back"
    keys_after = {key for at, key, _ in samples if at > back_at}
    assert len(keys_after) >= 2, "no rotation after the clock came back"
