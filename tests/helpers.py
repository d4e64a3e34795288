"""What tests share besides fixtures: the test database's URL, the task cluster, the lab's first
steps, a busy learner's log, process trees read from /proc, and (from ``learnlab.site.launch``,
which benchmarks use too) ports. Fixtures live in ``conftest.py``; tests import these by name."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.site.launch import ROOT, free_port, free_port_run  # noqa: F401 (for tests)


def database_url() -> str:
    """The URL of the test database, for processes the tests start."""
    from django.db import connection

    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    host, port = settings.get("HOST") or "127.0.0.1", settings.get("PORT") or 5432
    user = f"{settings['USER']}@" if settings.get("USER") else ""
    return f"postgres://{user}{host}:{port}/{settings['NAME']}"


def json_out(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def start_task_cluster(sandbox_server, **extra_env) -> subprocess.Popen:
    """A real ``qcluster`` process on the test database and this run's sandbox server."""
    from django_q.brokers import get_broker

    get_broker().purge_queue()  # nothing left over from an earlier run
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "LEARNLAB_SANDBOX_URL": sandbox_server["url"],
        "LEARNLAB_SANDBOX_SECRET": sandbox_server["secret"],
        **extra_env,
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, start_new_session=True
    )


def stop_task_cluster(process: subprocess.Popen, signum=signal.SIGTERM) -> None:
    os.killpg(process.pid, signum)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def launch_with_role(sandbox, name: str = "app") -> str:
    """Steps 1 to 3 of the lab in ``sandbox``: a role EC2 may assume, in a same-named profile,
    on a new instance. Returns the instance id."""
    from learnlab.gate.client import aws_client

    iam, ec2 = aws_client("iam", sandbox=sandbox), aws_client("ec2", sandbox=sandbox)
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return ec2.run_instances(
        ImageId="ami-0453ec754f44f9a4a",
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        IamInstanceProfile={"Name": name},
    )["Instances"][0]["InstanceId"]


def busy_log(sandbox, calls: int) -> list:
    """``calls`` unsaved log records (CreateRole and DeleteRole of roles ``r0``, ``r1``, ..., in
    pairs) copied from the sandbox's recorded CreateRole: a busy learner's log, for tests of
    replay. The caller may add to the list, then ``SandboxCall.objects.bulk_create`` it."""
    import urllib.parse

    from learnlab.sandbox.models import SandboxCall

    template = SandboxCall.objects.filter(sandbox=sandbox, action="CreateRole").first()
    form = dict(urllib.parse.parse_qsl(bytes(template.body).decode()))
    made = []
    for index in range(calls // 2):
        for action in ("CreateRole", "DeleteRole"):
            params = {**form, "Action": action, "RoleName": f"r{index}"}
            if action == "DeleteRole":
                params.pop("AssumeRolePolicyDocument")
            made.append(
                SandboxCall(
                    sandbox=sandbox,
                    action=action,
                    method=template.method,
                    path=template.path,
                    headers=template.headers,
                    body=urllib.parse.urlencode(params).encode(),
                    scope=template.scope,
                    seed=index,
                )
            )
    return made


def gate_client(gate_url: str, sandbox, service: str, *, attempts=1, mode="legacy", **options):
    """A real boto3 client for ``service`` over HTTP at ``gate_url`` as ``sandbox``'s lab
    user: path-style S3, ``attempts`` tries; ``options`` go to botocore's Config (a region
    other than the lab's as ``region_name``)."""
    import boto3
    from botocore.config import Config

    key = sandbox.lab_key()
    region = options.pop("region_name", "us-east-1")
    config = Config(
        retries={"max_attempts": attempts, "mode": mode}, s3={"addressing_style": "path"}, **options
    )
    return boto3.client(
        service,
        endpoint_url=gate_url,
        region_name=region,
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        config=config,
    )


def process_cmdline(pid: int) -> bytes:
    """A process's command line as /proc holds it (NUL-separated); empty once it is gone."""
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


def process_descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, their children, ...), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, queue = set(), [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.add(child)
            queue.append(child)
    return found


def process_alive(pid: int) -> bool:
    """``pid`` runs (exists and is not a zombie)."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


LIVE_SESSION = "livesession" + "0" * 21  # a session cookie's value, as a page's visitor sends


def live_wait_target(keys, versions: str, *, secret: str, session: str = LIVE_SESSION) -> str:
    """``/live/wait?...`` for a token signed with ``secret`` (a stack of the test's own) and
    bound to the session ``session``; send it with ``live_cookie(session)``."""
    from urllib.parse import quote

    from learnlab.live.services import topics_sign

    token = topics_sign(list(keys), session, secret=secret)
    return f"/live/wait?t={quote(token)}&v={quote(versions, safe=',-')}"


def live_cookie(session: str = LIVE_SESSION) -> dict:
    """The request headers that carry ``session`` as the session cookie."""
    return {"Cookie": f"sessionid={session}"}
