"""A class on one machine: N simulated learners against LearnLab as `make run` starts it.

Starts LearnLab's own supervisor (``manage.py runstack``: sandbox server, task cluster, gunicorn)
on free ports with a temporary data folder (its own SQLite database: the developer's data is never
touched), unless ``--url`` points at one already running. First it measures the ceiling: the home
page (a trivial Django view) in a closed loop. Then each simulated learner, started at a random
moment in the first ``--ramp`` seconds, does what a learner's browser and terminal do:

    open the lab page (a session, a sandbox), fetch its keys from /sandbox/env, build the role,
    profile and instance through the AWS gate with botocore over HTTP, press Check for steps 1-3,
    read the instance's credentials from its metadata service (IMDSv2, over HTTP), then keep
    the instance's credentials page open until the run ends, as static/js/live.js does: one
    held ``/live/wait`` at a time (answered when the panel's topic changes, else 204 after
    about 25 s), the panel fetched after a change, at its deadline (data-live-at) and by the
    safety poll (every 60 s). ``--legacy-poll`` keeps today's page before issue 16 instead: the
    panel fetched every ``--poll`` seconds (1 s); ``--compare`` runs both, each on a fresh stack,
    and prints the ratio of their settled cost per learner.

Held waits count as requests (requests/s per learner) but not in the latency figures or the
p95 goals: each is meant to take up to 25 s.

It prints (and writes with ``--json``) requests, errors, p50/p95/p99 overall and per endpoint,
requests/s, the resident memory of every LearnLab process at the end, the sandbox server's
memory per sandbox, and the ceiling; ``--plot FILE.svg`` draws p50/p95 over time.

    .venv/bin/python bench/classroom.py [--learners 300] [--seconds 300] [--ramp 60]
                                        [--servers N] [--scale-out POSTGRES_URL]
                                        [--json FILE] [--plot FILE.svg] [--url URL]
                                        [--legacy-poll [--poll 1]] [--compare]

``--scale-out postgres://127.0.0.1:5432/test`` runs the stack on a fresh PostgreSQL database
(created beside ``test`` and dropped afterwards) with the Redis broker (127.0.0.1:6379/14).
The simulated learners share one botocore session's parsed models, as their own laptops would
each have theirs: 300 separate sessions cost this machine a core and gigabytes.

Exits 0 when the measurement completed (goals met or not), 1 on errors.
"""

import argparse
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import quote, urlencode

import urllib3
from benchlib import (
    BenchError,
    cpu_by_role,
    free_port,
    free_port_run,
    memory_by_role,
    print_memory,
    run_and_report,
    stack_processes,
    stop_with_parent,
    summarize,
)
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.site.launch import stack_env, stack_start, stack_wait

ROOT = Path(__file__).resolve().parent.parent
AMI = "ami-0453ec754f44f9a4a"
GATE_PREFIX = "/aws"  # learnlab.gate.parsing.GATE_PREFIX, which needs Django's settings
POLL_SECONDS = 1.0  # templates/imds/instance.html before issue 16: the panel every second
SAFETY_POLL_SECONDS = 60.0  # its hx-trigger now: "live-changed, every 60s"
HELD = "live wait"  # held up to 25 s by design: counted, not in latency figures or goals
PAGES_AND_FRAGMENTS = (
    "lab page", "check", "credentials fragment", "sandbox env", "instance env", "instance page",
)  # fmt: skip
SETTLE_SECONDS = 30  # after the last arrival, the last lab walks are done
GOAL_P95_MS = 250.0
GOAL_KIB_PER_SANDBOX = 256


class Recorder:
    """Every request's (endpoint, start offset, latency, ok), shared by the learner threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.samples: list[tuple[str, float, float, bool]] = []
        self.errors: dict[str, int] = defaultdict(int)
        self.started = time.monotonic()

    def add(self, endpoint: str, began: float, seconds: float, ok: bool, error: str = ""):
        with self.lock:
            self.samples.append((endpoint, began - self.started, seconds * 1000, ok))
            if not ok:
                self.errors[f"{endpoint}: {error}"[:160]] += 1


class Browser:
    """One learner's browser: a connection pool, cookies, the CSRF token."""

    def __init__(self, base: str, recorder: Recorder):
        self.base, self.recorder = base, recorder
        # One retry on a connection the server closed while idle, as browsers do.
        # No read deadline under a held wait's 25 s plus a loaded server's delay (60 s): a
        # browser's fetch has none at all.
        self.http = urllib3.PoolManager(
            maxsize=2, retries=urllib3.Retry(total=1, read=0, redirect=False), timeout=60
        )
        self.cookies: dict[str, str] = {}

    def request(self, endpoint: str, method: str, path: str, *, htmx=False):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if htmx:
            headers["HX-Request"] = "true"
        if method == "POST":
            headers |= {"X-CSRFToken": self.cookies.get("csrftoken", ""), "Referer": self.base}
        began = time.monotonic()
        try:
            response = self.http.request(method, self.base + path, headers=headers, redirect=False)
        except urllib3.exceptions.HTTPError as error:
            self.recorder.add(
                endpoint, began, time.monotonic() - began, False, type(error).__name__
            )
            raise
        ok = response.status < 400
        self.recorder.add(endpoint, began, time.monotonic() - began, ok, str(response.status))
        for header in response.headers.getlist("Set-Cookie"):
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        if not ok:
            raise BenchError(f"{method} {path} answered {response.status}")
        return response


class AwsSigner:
    """A learner's AWS tool at its lightest: each call a query-API request signed with
    botocore's own SigV4 signer (the gate checks a real signature), sent on the learner's
    connection pool; no SDK client, models or parsers. The learners' laptops would pay for a
    whole SDK, not LearnLab, and 300 of them would take most of this machine's two cores."""

    VERSIONS = {"iam": "2010-05-08", "ec2": "2016-11-15"}

    def __init__(self, http: urllib3.PoolManager, url: str, key_id: str, secret: str):
        self.http, self.url = http, url
        self.credentials = Credentials(key_id, secret)

    def call(self, service: str, action: str, **params) -> str:
        """The answer's XML; BenchError with AWS's error code on a refusal."""
        body = urlencode(
            {"Action": action, "Version": self.VERSIONS[service], **params}, quote_via=quote
        )
        request = AWSRequest(
            method="POST",
            url=self.url,
            data=body.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        SigV4Auth(self.credentials, service, "us-east-1").add_auth(request)
        prepared = request.prepare()
        response = self.http.request(
            "POST", prepared.url, body=prepared.body, headers=dict(prepared.headers)
        )
        text = response.data.decode(errors="replace")
        if response.status >= 400:
            code = re.search(r"<Code>([^<]+)</Code>", text)
            raise BenchError(f"{response.status} {code[1] if code else text[:80]}")
        return text


def learner(
    base: str,
    recorder: Recorder,
    start_at: float,
    stop_at: float,
    number: int,
    poll_seconds: float = POLL_SECONDS,
    legacy: bool = False,
):
    time.sleep(max(0.0, start_at - time.monotonic()))
    browser = Browser(base, recorder)
    try:
        browser.request("lab page", "GET", "/lab/instance-role/")
        env = browser.request("sandbox env", "GET", "/sandbox/env").data.decode()
        values = dict(re.findall(r"export (\w+)='?([^'\n]*)'?", env))
        aws = AwsSigner(
            browser.http,
            base + GATE_PREFIX,
            values["AWS_ACCESS_KEY_ID"],
            values["AWS_SECRET_ACCESS_KEY"],
        )
        name = f"web{number}"
        calls = [
            ("iam", "CreateRole", {"RoleName": name, "AssumeRolePolicyDocument": EC2_TRUST_POLICY}),
            ("iam", "AttachRolePolicy", {
                "RoleName": name, "PolicyArn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"}),
            ("iam", "CreateInstanceProfile", {"InstanceProfileName": name}),
            ("iam", "AddRoleToInstanceProfile", {"InstanceProfileName": name, "RoleName": name}),
            ("ec2", "RunInstances", {
                "ImageId": AMI, "InstanceType": "t3.micro", "MinCount": "1", "MaxCount": "1",
                "IamInstanceProfile.Name": name}),
        ]  # fmt: skip
        instance_id = None
        for service, operation, params in calls:
            began = time.monotonic()
            try:
                reply = aws.call(service, operation, **params)
            except Exception as error:
                recorder.add(
                    f"gate {operation}", began, time.monotonic() - began, False, str(error)
                )
                raise
            recorder.add(f"gate {operation}", began, time.monotonic() - began, True)
            found = re.search(r"<instanceId>(i-[0-9a-f]+)</instanceId>", reply)
            instance_id = found[1] if found else instance_id
        for step in ("create-role", "create-instance-profile", "attach-to-instance"):
            browser.request("check", "POST", f"/lab/instance-role/steps/{step}/check", htmx=True)
        shell = browser.request("instance env", "GET", f"/sandbox/env?instance={instance_id}")
        imds = re.search(r"AWS_EC2_METADATA_SERVICE_ENDPOINT='?([^'\n]+)", shell.data.decode())[1]
        imds = imds.rstrip("/") + "/"  # the SDKs append /latest/... with or without the slash
        imds_path = imds.removeprefix(base)
        token = browser.http.request(
            "PUT", imds + "latest/api/token",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"},
        ).data.decode()  # fmt: skip
        began = time.monotonic()
        listing = browser.http.request(
            "GET", imds + "latest/meta-data/iam/security-credentials/",
            headers={"X-aws-ec2-metadata-token": token},
        )  # fmt: skip
        recorder.add("metadata", began, time.monotonic() - began, listing.status == 200)
        browser.request(
            "metadata", "GET", f"{imds_path}latest/meta-data/iam/security-credentials/{name}"
        )
        fragment = f"/sandbox/instances/{instance_id}/credentials"
        if not legacy:
            live_page(browser, instance_id, stop_at)
            return
        while time.monotonic() < stop_at:
            if not poll_seconds:  # --poll 0: the page does not poll; the learner just stays
                time.sleep(max(0.0, stop_at - time.monotonic()))
                break
            browser.request("credentials fragment", "GET", fragment, htmx=True)
            time.sleep(poll_seconds)
    except Exception as error:  # this learner stops, the class goes on
        recorder.add("learner stopped", time.monotonic(), 0.0, False, repr(error))


def _live_attrs(html: str) -> tuple[str, str, float]:
    """The panel's signed topics, their versions and its deadline (epoch s, 0: none)."""
    token = re.search(r'data-live-topics="([^"]+)"', html)
    versions = re.search(r'data-live-versions="([^"]*)"', html)
    at = re.search(r'data-live-at="(\d+)"', html)
    if token is None:
        raise BenchError("the credentials panel carries no live topics")
    return token[1], versions[1], float(at[1]) if at else 0.0


def live_page(browser: Browser, instance_id: str, stop_at: float) -> None:
    """The credentials page left open, as static/js/live.js drives it."""
    page = browser.request("instance page", "GET", f"/sandbox/instances/{instance_id}/")
    token, versions, deadline = _live_attrs(page.data.decode())
    fragment = f"/sandbox/instances/{instance_id}/credentials"
    fetched = time.monotonic()
    while time.monotonic() < stop_at:
        query = urlencode({"t": token, "v": versions})
        answer = browser.request(HELD, "GET", f"/live/wait?{query}")
        changed = answer.status == 200
        if changed:
            versions = json.loads(answer.data)["v"]
        safety = time.monotonic() - fetched >= SAFETY_POLL_SECONDS
        if changed or safety or (deadline and time.time() >= deadline):
            panel = browser.request("credentials fragment", "GET", fragment, htmx=True)
            token, versions, deadline = _live_attrs(panel.data.decode())
            fetched = time.monotonic()


def ceiling(base: str, seconds: float, threads: int = 8) -> int:
    """Home pages (a trivial Django view) served in a closed loop for ``seconds``."""
    done, stop_at = [0], time.monotonic() + seconds
    lock = threading.Lock()

    def loop():
        http = urllib3.PoolManager(maxsize=1, retries=False)
        while time.monotonic() < stop_at:
            http.request("GET", base + "/")
            with lock:
                done[0] += 1

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return done[0]


class Stack:
    """LearnLab under its own supervisor, on free ports and a temporary data folder."""

    def __init__(self, servers: int = 1, scale_out: str | None = None):
        self.data_dir = Path(tempfile.mkdtemp(prefix="learnlab-bench-class-"))
        self.servers = servers
        self.scale_out = ScaleOut(scale_out) if scale_out else None
        self.port, self.sandbox_port = free_port(), free_port_run(servers)
        self.secret = secrets.token_hex(16)
        self.process = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = stack_env(
            port=self.port,
            data_dir=self.data_dir,
            servers=self.servers,
            LEARNLAB_SANDBOX_URL=f"http://127.0.0.1:{self.sandbox_port}",
            LEARNLAB_SANDBOX_SECRET=self.secret,
            # The whole simulated class comes from one address: no new-learner limit for it.
            LEARNLAB_NEW_LEARNERS_PER_CLIENT="0",
        )
        if self.scale_out:
            env |= self.scale_out.create()
        python = sys.executable
        subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        self.log = (self.data_dir / "stack.log").open("w")
        self.process = stack_start(env, stdout=self.log, preexec_fn=stop_with_parent)
        stack_wait(self.process, self.port, timeout=60)

    def sandbox_health(self) -> dict:
        """Accounts and resident memory summed over the sandbox servers."""
        total = {"accounts": 0, "rss_kib": 0}
        for port in range(self.sandbox_port, self.sandbox_port + self.servers):
            response = urllib3.request(
                "GET", f"http://127.0.0.1:{port}/_admin/health",
                headers={"X-LearnLab-Secret": self.secret},
            )  # fmt: skip
            facts = json.loads(response.data)
            total = {name: total[name] + facts[name] for name in total}
        return total

    def server_errors(self, limit: int = 3) -> list[str]:
        """The last few tracebacks LearnLab logged, for the report when requests failed."""
        text = (self.data_dir / "stack.log").read_text(errors="replace")
        blocks = re.findall(r"Traceback \(most recent call last\):\n(?:[ \t].*\n)+.*", text)
        return blocks[-limit:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        if self.scale_out:
            self.scale_out.drop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


class ScaleOut:
    """The scale-out configuration's services: a fresh PostgreSQL database beside the server's
    ``test`` one (dropped afterwards) and a Redis database for the broker (emptied before and
    after). ``url`` is the PostgreSQL server's, e.g. postgres://127.0.0.1:5432/test."""

    REDIS_URL = "redis://127.0.0.1:6379/14"

    def __init__(self, url: str):
        self.url = url
        self.name = f"learnlab_bench_{secrets.token_hex(4)}"

    def create(self) -> dict:
        import psycopg
        import redis

        with psycopg.connect(self.url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')
        redis.Redis.from_url(self.REDIS_URL).flushdb()
        database = urllib3.util.parse_url(self.url)._replace(path=f"/{self.name}").url
        return {"DATABASE_URL": database, "LEARNLAB_REDIS_URL": self.REDIS_URL}

    def drop(self) -> None:
        import psycopg
        import redis

        with psycopg.connect(self.url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        redis.Redis.from_url(self.REDIS_URL).flushdb()


def report_of(recorder: Recorder, seconds: float, settled_after: float) -> dict:
    by_endpoint = defaultdict(list)
    for endpoint, _at, ms, _ok in recorder.samples:
        by_endpoint[endpoint].append(ms)
    everything = [ms for endpoint, _a, ms, _ok in recorder.samples if endpoint != HELD]
    pages = [ms for endpoint, _a, ms, _ok in recorder.samples if endpoint in PAGES_AND_FRAGMENTS]
    settled = [
        ms
        for endpoint, at, ms, _ok in recorder.samples
        if at >= settled_after and endpoint in PAGES_AND_FRAGMENTS
    ]
    overall = summarize(everything) or {}
    return {
        "requests": len(everything),
        "errors": sum(recorder.errors.values()),
        "error_kinds": dict(recorder.errors),
        "requests_per_s": len(everything) / seconds,
        "p50_ms": overall.get("p50"),
        "p95_ms": overall.get("p95"),
        "p99_ms": overall.get("p99"),
        "pages_p95_ms": (summarize(pages) or {}).get("p95"),
        "settled_pages_p95_ms": (summarize(settled) or {}).get("p95"),
        "endpoints": {
            name: {k: v for k, v in summarize(values).items() if k != "mean"}
            for name, values in sorted(by_endpoint.items())
        },
    }


def plot(recorder: Recorder, path: Path, seconds: float, bucket: float = 10.0) -> None:
    """p50 and p95 per ``bucket`` seconds as a small standalone SVG."""
    buckets = defaultdict(list)
    for _e, at, ms, _ok in recorder.samples:
        buckets[int(at // bucket)].append(ms)
    points = {k: summarize(v) for k, v in sorted(buckets.items())}
    width, height, pad = 720, 300, 40
    top = max([p["p95"] for p in points.values()] + [GOAL_P95_MS]) * 1.1
    x = lambda k: pad + (k * bucket) / max(seconds, bucket) * (width - 2 * pad)  # noqa: E731
    y = lambda ms: height - pad - ms / top * (height - 2 * pad)  # noqa: E731
    lines = []
    for key, colour in (("p50", "#1d6b35"), ("p95", "#b34700")):
        coords = " ".join(f"{x(k):.1f},{y(p[key]):.1f}" for k, p in points.items())
        lines.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>'
        )
    goal = y(GOAL_P95_MS)
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12"><title>Latency over time</title>'
        f'<rect width="100%" height="100%" fill="#fff"/>'
        f'<line x1="{pad}" x2="{width - pad}" y1="{goal:.1f}" y2="{goal:.1f}" stroke="#a3191f" '
        f'stroke-dasharray="4 4"/><text x="{pad + 4}" y="{goal - 4:.1f}">goal p95 '
        f"{GOAL_P95_MS:.0f} ms</text>{''.join(lines)}"
        f'<text x="{pad}" y="{height - 10}">seconds → (p50 green, p95 orange, per {bucket:.0f} s; '
        f"top {top:.0f} ms)</text></svg>\n"
    )


def _snapshot(stack) -> dict:
    return {
        "at": time.monotonic(),
        "bench_cpu_s": time.process_time(),
        "stack": stack_processes(stack.process.pid) if stack else [],
    }


def _cost(before: dict, after: dict, learner_minutes: float, requests: int) -> dict:
    """What a stretch of the run cost: the bench's own CPU share, LearnLab's CPU by process
    role, per learner-minute and per request."""
    wall = after["at"] - before["at"]
    bench = after["bench_cpu_s"] - before["bench_cpu_s"]
    roles = cpu_by_role(before["stack"], after["stack"]) if after["stack"] else {}
    stack_cpu = sum(roles.values())
    cores = os.cpu_count() or 1
    return {
        "seconds": round(wall, 1),
        "requests": requests,
        "bench_cpu_s": round(bench, 1),
        "bench_cpu_share": round(bench / wall, 3) if wall else None,  # of one core
        "bench_machine_pct": round(100 * bench / wall / cores, 1) if wall else None,
        "stack_cpu_s": {role: round(cpu, 1) for role, cpu in sorted(roles.items())},
        "stack_machine_pct": round(100 * stack_cpu / wall / cores, 1) if wall else None,
        "stack_cpu_ms_per_learner_minute": (
            round(1000 * stack_cpu / learner_minutes, 1) if learner_minutes and roles else None
        ),
        "stack_cpu_ms_per_request": round(1000 * stack_cpu / requests, 2)
        if requests and roles
        else None,
    }


def run(args) -> dict:
    stack = None if args.url else Stack(args.servers, args.scale_out)
    try:
        if stack:
            stack.start()
        base = args.url or stack.base
        before_ceiling = _snapshot(stack)
        home_pages = ceiling(base, args.ceiling_seconds)
        after_ceiling = _snapshot(stack)
        ceiling_rps = home_pages / args.ceiling_seconds
        health_before = stack.sandbox_health() if stack else None
        recorder = Recorder()
        started = time.monotonic()
        stop_at = started + args.seconds
        settled_after = args.ramp + SETTLE_SECONDS
        rng = random.Random(1)
        arrivals = [started + rng.uniform(0, args.ramp) for _ in range(args.learners)]
        threads = [
            threading.Thread(
                target=learner,
                args=(base, recorder, arrivals[n], stop_at, n, args.poll, args.legacy_poll),
                daemon=True,
            )
            for n in range(args.learners)
        ]
        begin = _snapshot(stack)
        for thread in threads:
            thread.start()
        settled_snapshot = None
        while time.monotonic() < stop_at:
            if settled_snapshot is None and time.monotonic() >= started + settled_after:
                settled_snapshot = _snapshot(stack)
            time.sleep(0.25)
        end = _snapshot(stack)
        for thread in threads:
            thread.join(timeout=max(1.0, stop_at - time.monotonic() + 60))
        report = report_of(recorder, time.monotonic() - started, settled_after)
        learner_minutes = sum(max(0.0, stop_at - at) for at in arrivals) / 60
        report |= {
            "servers": args.servers,
            "database": "postgresql + redis broker" if args.scale_out else "sqlite + orm broker",
            "learners": args.learners,
            "seconds": args.seconds,
            "poll_seconds": args.poll if args.legacy_poll else None,
            "mode": "legacy poll" if args.legacy_poll else "live",
            "ceiling_home_rps": round(ceiling_rps, 1),
            "ceiling_cost": _cost(before_ceiling, after_ceiling, 0, home_pages),
            "run_cost": _cost(begin, end, learner_minutes, len(recorder.samples)),
        }
        if settled_snapshot:
            settled_requests = sum(1 for s in recorder.samples if s[1] >= settled_after)
            window = end["at"] - settled_snapshot["at"]
            settled = _cost(settled_snapshot, end, args.learners * window / 60, settled_requests)
            settled["requests_per_s_per_learner"] = round(
                settled_requests / window / args.learners, 3
            )
            report["settled_cost"] = settled
        if stack:
            health = stack.sandbox_health()
            accounts = max(1, health["accounts"] - health_before["accounts"])
            report["sandbox_server"] = {
                "accounts": health["accounts"],
                "rss_kib": health["rss_kib"],
                "kib_per_sandbox": round((health["rss_kib"] - health_before["rss_kib"]) / accounts),
            }
            processes = stack_processes(stack.process.pid)
            report["processes"] = processes
            report["memory"] = memory_by_role(processes)
            if report["errors"]:
                report["server_tracebacks"] = stack.server_errors()
        report["goals"] = {
            "no_errors": report["errors"] == 0,
            "pages_p95_under_250_ms": (report["pages_p95_ms"] or 0) < GOAL_P95_MS,
            "every_endpoint_p95_under_250_ms": all(
                figures["p95"] < GOAL_P95_MS
                for name, figures in report["endpoints"].items()
                if name not in ("learner stopped", HELD)
            ),
            "sandbox_under_256_kib": (
                report.get("sandbox_server", {}).get("kib_per_sandbox", 0) < GOAL_KIB_PER_SANDBOX
            ),
        }
        if args.plot:
            plot(recorder, args.plot, args.seconds)
        print_report(report)
        return report
    finally:
        if stack:
            stack.stop()


def _print_cost(label: str, cost: dict, ceiling: str) -> None:
    roles = ", ".join(f"{role} {cpu:.1f}" for role, cpu in cost["stack_cpu_s"].items())
    print(f"  {label} ({cost['seconds']:.0f} s, {cost['requests']} requests; {ceiling}):")
    print(f"    bench's own CPU {cost['bench_cpu_s']:.1f} s = {cost['bench_cpu_share']:.2f} "
          f"of a core, {cost['bench_machine_pct']:.1f} % of the machine")  # fmt: skip
    if cost["stack_cpu_s"]:
        print(f"    LearnLab CPU s by process: {roles} = {cost['stack_machine_pct']:.1f} % of "
              f"the machine; {cost['stack_cpu_ms_per_request']} CPU-ms per request")  # fmt: skip
    if cost["stack_cpu_ms_per_learner_minute"] is not None:
        print(f"    LearnLab {cost['stack_cpu_ms_per_learner_minute']:.1f} CPU-ms per "
              f"learner-minute")  # fmt: skip
    if "requests_per_s_per_learner" in cost:
        print(f"    {cost['requests_per_s_per_learner']:.3f} requests/s per learner")


def print_report(report: dict) -> None:
    print(f"{report['learners']} learners for {report['seconds']} s, "
          f"{report['servers']} sandbox server(s), {report['database']}")  # fmt: skip
    print(f"  requests {report['requests']}  errors {report['errors']}  "
          f"{report['requests_per_s']:.1f} req/s (ceiling, home page: "
          f"{report['ceiling_home_rps']} req/s)")  # fmt: skip
    ceiling = f"ceiling {report['ceiling_home_rps']} req/s"
    poll = report["poll_seconds"]
    if report["mode"] == "live":
        print(f"  live: held waits; the panel fetched on a change, at its deadline and every "
              f"{SAFETY_POLL_SECONDS:g} s; held waits not in the latencies")  # fmt: skip
    else:
        print(f"  legacy: credentials fragment polled every {poll:g} s" if poll else "  no polling")
    print(f"  overall p50 {report['p50_ms']:.1f}  p95 {report['p95_ms']:.1f}  "
          f"p99 {report['p99_ms']:.1f} ms ({ceiling})")  # fmt: skip
    _print_cost("ceiling, home page closed loop", report["ceiling_cost"], ceiling)
    _print_cost("whole run", report["run_cost"], ceiling)
    if "settled_cost" in report:
        _print_cost("settled (every learner arrived and walked the lab)",
                    report["settled_cost"], ceiling)  # fmt: skip
    settled = report["settled_pages_p95_ms"]
    settled_text = f"p95 {settled:.1f} ms" if settled else "not reached (the run was too short)"
    print(f"  pages and fragments p95 {report['pages_p95_ms']:.1f} ms; once every learner has "
          f"arrived and walked the lab: {settled_text}")  # fmt: skip
    print(f"  {'endpoint':28} {'n':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}  ({ceiling})")
    for name, figures in report["endpoints"].items():
        print(f"  {name:28} {figures['n']:6d} {figures['p50']:8.1f} {figures['p95']:8.1f} "
              f"{figures['p99']:8.1f} {figures['max']:8.1f}")  # fmt: skip
    for kind, count in list(report["error_kinds"].items())[:10]:
        print(f"  error x{count}: {kind}")
    if "sandbox_server" in report:
        server = report["sandbox_server"]
        print(f"  sandbox server: {server['accounts']} accounts, {server['rss_kib']} KiB, "
              f"{server['kib_per_sandbox']} KiB per sandbox")  # fmt: skip
        for proc in report["processes"]:
            print(f"  rss {proc['rss_kib'] / 1024:7.1f} MiB  {proc['pid']} {proc['command']}")
        print_memory(report["memory"])
    for traceback in report.get("server_tracebacks", []):
        print("  server traceback:\n    " + traceback.strip().replace("\n", "\n    "))
    for goal, met in report["goals"].items():
        print(f"goal {goal}: {'MET' if met else 'NOT met'}")


def compare(args) -> dict:
    """The live page and the legacy poll, each on a fresh stack, and their ratio settled."""
    live = run(argparse.Namespace(**{**vars(args), "legacy_poll": False}))
    legacy = run(argparse.Namespace(**{**vars(args), "legacy_poll": True}))
    ratios = {}
    for name in ("requests_per_s_per_learner", "stack_cpu_ms_per_learner_minute"):
        new = live.get("settled_cost", {}).get(name)
        old = legacy.get("settled_cost", {}).get(name)
        ratios[name] = round(old / new, 1) if new and old else None
    print(f"settled, legacy {args.poll:g} s poll / live (goal >= 10x lower): "
          f"requests/s per learner {ratios['requests_per_s_per_learner']}x, LearnLab CPU-ms per "
          f"learner-minute {ratios['stack_cpu_ms_per_learner_minute']}x; ceilings "
          f"{live['ceiling_home_rps']} and {legacy['ceiling_home_rps']} req/s")  # fmt: skip
    met = (ratios["requests_per_s_per_learner"] or 0) >= 10
    print(f"goal settled_requests_per_learner_10x_lower: {'MET' if met else 'NOT met'}")
    return {"live": live, "legacy": legacy, "ratios": ratios}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--ramp", type=float, default=60, help="learners arrive over this long")
    parser.add_argument("--ceiling-seconds", type=float, default=10)
    parser.add_argument(
        "--poll",
        type=float,
        default=POLL_SECONDS,
        help="with --legacy-poll: seconds between polls of the credentials fragment (0: the "
        "page stays open and asks nothing)",
    )
    parser.add_argument(
        "--legacy-poll", action="store_true", help="the page before issue 16: poll, no wait"
    )
    parser.add_argument(
        "--compare", action="store_true", help="run live, then --legacy-poll; print the ratio"
    )
    parser.add_argument("--url", help="an already running LearnLab (else one is started)")
    parser.add_argument("--servers", type=int, default=1, help="LEARNLAB_SANDBOX_SERVERS")
    parser.add_argument(
        "--scale-out",
        metavar="POSTGRES_URL",
        help="run on PostgreSQL (a fresh database on this server) and the Redis broker "
        "(127.0.0.1:6379/14), e.g. postgres://127.0.0.1:5432/test",
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path, help="an SVG of latency over time")
    args = parser.parse_args(argv)
    return run_and_report(compare if args.compare else run, args, stopped="LearnLab")


if __name__ == "__main__":
    sys.exit(main())
