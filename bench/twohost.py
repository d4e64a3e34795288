"""A rehearsal of the two-host layout of docs/deploy.md on this machine, then a drain.

Two "hosts" on loopback addresses (Linux routes all of 127/8 to lo): host A (127.0.0.2) runs a
web server, the task cluster and sandbox server ``a``; host B (127.0.0.3) a web server and
sandbox server ``b``; both on PostgreSQL (a database of its own, ``learnlab_twohost``, on the
server ``--postgres`` names) and Redis (db 14). Each process is started as its unit file in
deploy/ starts it (not under ``runstack``), with the settings docs/deploy.md lists.

Learners (``--learners``, default 40) arrive over a few seconds, half through each web node;
each opens the lab page, fetches its keys from /sandbox/env, builds the lab's role, profile and
instance with SigV4-signed calls, then keeps calling about once a second (reads, and a write
every fifth call) with an SDK's retries (a 503 is retried, as SDKs do). Midway, sandbox server
``b`` is drained (``manage.py sandbox_drain b``) while they keep calling.

Reported: the same run's ceiling (home pages a second in a closed loop, per web node), where
the learners landed (web node, sandbox server), errors (calls that failed after retries; goal
0), p50/p95 per phase (before, during, after the drain) and the 503s retried, the drain's own
time, and whether every learner's key, role id and instance id are unchanged afterwards.

    .venv/bin/python bench/twohost.py [--learners 40] [--seconds 60]
        [--postgres postgres://127.0.0.1:5432/test] [--json FILE]
"""

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import urllib3
from benchlib import BenchError, free_port, run_and_report, stop_with_parent, summarize
from classroom import AwsSigner, Browser, Recorder, ceiling

from learnlab.lib.iam_policy import EC2_TRUST_POLICY

ROOT = Path(__file__).resolve().parent.parent
HOSTS = {"A": "127.0.0.2", "B": "127.0.0.3"}
DATABASE = "learnlab_twohost"
REDIS_URL = "redis://127.0.0.1:6379/14"
AMI = "ami-0453ec754f44f9a4a"
RETRIES = 8  # an SDK's standard mode retries 503s; a drain holds a sandbox a second or two
# Settings of the developer's own stack that must not leak into the rehearsal's.
NOT_INHERITED = (
    "DATABASE_URL", "LEARNLAB_REDIS_URL", "LEARNLAB_SANDBOX_URL", "LEARNLAB_SANDBOX_URLS",
    "LEARNLAB_SANDBOX_SERVERS", "LEARNLAB_SANDBOX_SECRET", "SECRET_KEY", "DEBUG", "PORT", "HOST",
    "LEARNLAB_DATA_DIR",
)  # fmt: skip


class Layout:
    """The two hosts' processes, on free ports, with their own database and data folders."""

    def __init__(self, postgres: str):
        self.postgres = postgres
        self.web_port, self.sandbox_port = free_port(), free_port()
        self.data = Path(tempfile.mkdtemp(prefix="learnlab-twohost-"))
        self.processes: list[tuple[str, subprocess.Popen]] = []
        database = urllib3.util.parse_url(postgres)._replace(path=f"/{DATABASE}").url
        sandboxes = ",".join(
            f"{name.lower()}=http://{address}:{self.sandbox_port}"
            for name, address in HOSTS.items()
        )
        self.env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED} | {
            "DATABASE_URL": database,
            "LEARNLAB_REDIS_URL": REDIS_URL,
            "LEARNLAB_SANDBOX_URLS": sandboxes,
            "LEARNLAB_SANDBOX_SECRET": secrets.token_hex(32),
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": ",".join(HOSTS.values()),
            "LEARNLAB_NEW_LEARNERS_PER_CLIENT": "0",  # the whole class from one address
            "PYTHONUNBUFFERED": "1",
        }

    def web(self, host: str) -> str:
        return f"http://{HOSTS[host]}:{self.web_port}"

    def host_env(self, host: str) -> dict:
        data = self.data / host
        data.mkdir(exist_ok=True)
        return self.env | {"LEARNLAB_DATA_DIR": str(data)}

    def manage(self, *args: str, host: str = "A", **run) -> subprocess.CompletedProcess:
        command = [sys.executable, "manage.py", *args]
        return subprocess.run(command, cwd=ROOT, env=self.host_env(host), check=True, **run)

    def _start(self, name: str, host: str, argv: list[str]) -> None:
        log = (self.data / f"{name}.log").open("w")
        process = subprocess.Popen(
            argv, cwd=ROOT, env=self.host_env(host), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=stop_with_parent,
        )  # fmt: skip
        self.processes.append((name, process))

    def start(self) -> None:
        import psycopg
        import redis

        with psycopg.connect(self.postgres, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{DATABASE}"')
        redis.Redis.from_url(REDIS_URL).flushdb()
        self.manage("migrate", "-v0")
        python, bin_dir = sys.executable, Path(sys.executable).parent
        for host in HOSTS:  # deploy/learnlab-sandbox@.service
            self._start(
                f"sandbox {host.lower()}", host,
                [python, "-m", "learnlab.sandbox.server", f"--host={HOSTS[host]}",
                 f"--port={self.sandbox_port}"],
            )  # fmt: skip
        for host in HOSTS:  # deploy/learnlab-web.service
            self.manage("collectstatic", "--noinput", "-v0", host=host)
            self._start(
                f"web {host}", host,
                [str(bin_dir / "gunicorn"), "learnlab.site.web:application",
                 f"--bind={HOSTS[host]}:{self.web_port}",
                 "--worker-class=learnlab.site.web.Worker", "--workers=2",
                 "--worker-connections=1000", "--graceful-timeout=5", "--keep-alive=10",
                 "--no-control-socket", f"--chdir={ROOT}"],
            )  # fmt: skip
        self._start("tasks A", "A", [python, "manage.py", "qcluster"])  # learnlab-tasks
        self.manage(  # what runstack does: start the lab clock now, not at the next minute
            "shell", "-c",
            "from django_q.tasks import async_task; "
            "async_task('learnlab.ticker.jobs.run_clock', task_name='lab clock (start)')",
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 120  # /healthz: the database, both sandbox servers, the clock
        for host in HOSTS:
            while not self._answers(self.web(host) + "/healthz"):
                if time.monotonic() > deadline or self._died():
                    raise BenchError(f"web {host} did not become healthy: see {self.data}")
                time.sleep(0.3)

    def _answers(self, url: str) -> bool:
        try:
            return urllib3.request("GET", url, timeout=2, retries=False).status == 200
        except urllib3.exceptions.HTTPError:
            return False

    def _died(self) -> bool:
        return any(process.poll() is not None for _, process in self.processes)

    def sandboxes_per_server(self) -> dict[str, int]:
        import psycopg

        database = self.env["DATABASE_URL"]
        with psycopg.connect(database) as db:
            rows = db.execute("SELECT server, count(*) FROM sandbox_sandbox GROUP BY server")
            return dict(rows.fetchall())

    def stop(self) -> None:
        import psycopg

        for _, process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, 15)
        for _, process in reversed(self.processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()
        with psycopg.connect(self.postgres, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        shutil.rmtree(self.data, ignore_errors=True)


class Learner:
    """One learner: a browser on one web node, then AWS calls through that node's gate."""

    def __init__(self, number: int, base: str, recorder: Recorder, phases: "Phases"):
        self.number, self.base, self.recorder, self.phases = number, base, recorder, phases
        self.failures: list[str] = []
        self.retried = 0
        self.ids_before: dict | None = None
        self.ids_after: dict | None = None

    def aws(self, signer: AwsSigner, service: str, action: str, **params) -> str:
        """One call as an SDK makes it: 503s and throttling retried with backoff."""
        began = time.monotonic()
        for attempt in range(RETRIES):
            try:
                text = signer.call(service, action, **params)
            except BenchError as error:
                retryable = str(error).startswith("503") or "Throttl" in str(error)
                if not retryable or attempt == RETRIES - 1:
                    self._record(action, began, False, str(error))
                    raise
                self.retried += 1
                time.sleep(min(2.0, 0.1 * 2**attempt))
                continue
            self._record(action, began, True)
            return text
        raise AssertionError("unreachable")

    def _record(self, action: str, began: float, ok: bool, error: str = "") -> None:
        seconds = time.monotonic() - began
        self.recorder.add(f"aws {self.phases.at(began)}", began, seconds, ok, error)

    def ids(self, signer: AwsSigner) -> dict:
        role = self.aws(signer, "iam", "GetRole", RoleName="app")
        described = self.aws(signer, "ec2", "DescribeInstances")
        return {
            "role": re.search(r"<RoleId>([^<]+)</RoleId>", role)[1],
            "instances": sorted(
                set(re.findall(r"<instanceId>(i-[0-9a-f]+)</instanceId>", described))
            ),
        }

    def run(self, start_at: float, stop: threading.Event) -> None:
        time.sleep(max(0.0, start_at - time.monotonic()))
        try:
            browser = Browser(self.base, self.recorder)
            browser.request("lab page", "GET", "/lab/instance-role/")
            env = browser.request("sandbox env", "GET", "/sandbox/env").data.decode()
            values = dict(re.findall(r"export (\w+)='?([^'\n]*)'?", env))
            self.key = values["AWS_ACCESS_KEY_ID"]
            signer = AwsSigner(
                browser.http, self.base + "/aws", self.key, values["AWS_SECRET_ACCESS_KEY"]
            )
            self.aws(signer, "iam", "CreateRole", RoleName="app",
                     AssumeRolePolicyDocument=EC2_TRUST_POLICY)  # fmt: skip
            self.aws(signer, "iam", "CreateInstanceProfile", InstanceProfileName="app")
            self.aws(signer, "iam", "AddRoleToInstanceProfile", InstanceProfileName="app",
                     RoleName="app")  # fmt: skip
            self.aws(signer, "ec2", "RunInstances", ImageId=AMI, InstanceType="t3.micro",
                     MinCount="1", MaxCount="1", **{"IamInstanceProfile.Name": "app"})  # fmt: skip
            self.ids_before = self.ids(signer)
            calls = 0
            while not stop.is_set():
                calls += 1
                if calls % 5 == 0:  # a write: recorded, so a rebuild must replay it
                    name = f"w{calls}"
                    self.aws(signer, "iam", "CreateRole", RoleName=name,
                             AssumeRolePolicyDocument=EC2_TRUST_POLICY)  # fmt: skip
                    self.aws(signer, "iam", "DeleteRole", RoleName=name)
                else:
                    self.aws(signer, "iam", "GetRole", RoleName="app")
                stop.wait(1.0)
            self.ids_after = self.ids(signer)
        except BenchError as error:
            self.failures.append(str(error))


class Phases:
    """Which phase a moment falls in: before the drain, during it, after it."""

    def __init__(self):
        self.drain_started = self.drain_ended = float("inf")

    def at(self, moment: float) -> str:
        if moment < self.drain_started:
            return "before"
        return "during" if moment < self.drain_ended else "after"


def run(args) -> dict:
    layout = Layout(args.postgres)
    try:
        print(f"starting host A ({HOSTS['A']}: web, task cluster, sandbox server a) and "
              f"host B ({HOSTS['B']}: web, sandbox server b), PostgreSQL, Redis")  # fmt: skip
        layout.start()
        ceilings = {
            host: ceiling(layout.web(host), args.ceiling_seconds) / args.ceiling_seconds
            for host in HOSTS
        }
        ceiling_text = ", ".join(f"web {h} {rps:.0f}" for h, rps in ceilings.items())
        print(
            f"ceiling (home page, closed loop, 8 threads, one node at a time): {ceiling_text} req/s"
        )

        recorder, phases, stop = Recorder(), Phases(), threading.Event()
        learners = [
            Learner(n, layout.web("AB"[n % 2]), recorder, phases) for n in range(args.learners)
        ]
        began = time.monotonic()
        threads = [
            threading.Thread(
                target=lr.run, args=(began + lr.number * args.ramp / args.learners, stop)
            )
            for lr in learners
        ]
        for thread in threads:
            thread.start()
        ready_by = began + max(args.ramp + 5, args.seconds * 0.4)
        while time.monotonic() < ready_by or (  # every learner has built the lab (within reason)
            time.monotonic() < began + args.seconds
            and any(lr.ids_before is None and not lr.failures for lr in learners)
        ):
            time.sleep(0.5)
        spread = layout.sandboxes_per_server()
        print(f"learners per web node: A {len(learners[0::2])}, B {len(learners[1::2])}; "
              f"sandboxes per sandbox server: {dict(sorted(spread.items()))}")  # fmt: skip

        phases.drain_started = time.monotonic()
        drained = layout.manage("sandbox_drain", "b", capture_output=True, text=True)
        phases.drain_ended = time.monotonic()
        drain_seconds = phases.drain_ended - phases.drain_started
        last = drained.stdout.strip().splitlines()[-1]
        print(f"drain of b: {drain_seconds:.1f} s ({last})")
        time.sleep(max(5.0, args.seconds - (time.monotonic() - began)))
        stop.set()
        for thread in threads:
            thread.join(60)
        after = layout.sandboxes_per_server()
    finally:
        layout.stop()

    by_phase = defaultdict(list)
    for endpoint, _at, ms, ok in recorder.samples:
        if endpoint.startswith("aws ") and ok:
            by_phase[endpoint[4:]].append(ms)
    unchanged = sum(1 for lr in learners if lr.ids_before and lr.ids_before == lr.ids_after)
    report = {
        "learners": args.learners,
        "ceiling_home_rps": {h: round(v, 1) for h, v in ceilings.items()},
        "sandboxes_before_drain": spread,
        "sandboxes_after_drain": after,
        "drain_seconds": round(drain_seconds, 1),
        "errors": sum(recorder.errors.values()),
        "error_kinds": dict(recorder.errors),
        "learners_failed": sum(1 for lr in learners if lr.failures),
        "retried_503s": sum(lr.retried for lr in learners),
        "phases": {
            phase: {k: round(v, 1) for k, v in (summarize(by_phase[phase]) or {}).items()}
            for phase in ("before", "during", "after")
        },
        "ids_unchanged": unchanged,
    }
    print(f"sandboxes per server after the drain: {dict(sorted(after.items()))}")
    print(f"errors: {report['errors']} (goal 0); learners who failed: {report['learners_failed']};"
          f" 503s retried by the learners' SDK logic: {report['retried_503s']}")  # fmt: skip
    print(f"AWS calls through the gate, per phase ({ceiling_text} req/s ceiling):")
    for phase, figures in report["phases"].items():
        if figures:
            print(f"  {phase:7} n {figures['n']:5.0f}  p50 {figures['p50']:7.1f} ms  "
                  f"p95 {figures['p95']:7.1f} ms  max {figures['max']:7.1f} ms")  # fmt: skip
    print(
        f"learners whose key, role id and instance ids are unchanged: {unchanged}/{args.learners}"
    )
    for kind, count in list(recorder.errors.items())[:5]:
        print(f"  error x{count}: {kind}")
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--ramp", type=float, default=10, help="seconds over which they arrive")
    parser.add_argument("--ceiling-seconds", type=float, default=5)
    parser.add_argument("--postgres", default="postgres://127.0.0.1:5432/test")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.learners < 2 or args.seconds < 20:
        parser.error("at least 2 learners (one per web node) and 20 seconds")
    return run_and_report(run, args, stopped="every process of both hosts")


if __name__ == "__main__":
    sys.exit(main())
