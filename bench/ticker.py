"""What the lab clock's ticker costs: instance credentials renewed on time for many instances.

Measures ``credentials_tick`` (the ticker's one-second work on the task cluster) with
``--instances`` attached instances spread over ``--sandboxes`` learner sandboxes, at clock speed
``--speed`` (at 360 a set lives 60 s and is renewed every 10 s, so all of them rotate six times a
minute). It reports:

    tick duration     p50/p95/p99/max of every tick of the run, and the average tick against an
                      "empty" tick (the same instances, nothing due) measured before the run
    lateness          per renewal, how long after the old set's ``renew_at`` the new set existed:
                      "delivered" = when the new set's row was written (wall clock, recorded by a
                      post_save receiver), "tick time" = the old set's ``superseded_at`` (the
                      ``now`` of the tick that renewed it, which is also the new set's
                      ``issued_at``: it does not include the time the tick took to get there)
    violations        renewals whose new set was written (or, by tick time, issued) only when the
                      old one had already expired; sets still overdue when the run ends
    CPU and memory    the benchmark process (it does nothing but tick during the run) and the
                      sandbox server, CPU time over the run's wall time as % of one core, and
                      VmRSS at the end

The goal is lateness p99 < 1 s, judged on delivered lateness (what a learner's instance sees).

How: the script starts its own sandbox server (``python -m learnlab.sandbox.server``) on a free
port with a random secret, points Django at it and at a fresh temporary data folder (its own SQLite
database and secret key; the developer's data is never touched), migrates, and sets up Django in
this process. It provisions the sandboxes and, in each, a role with the EC2 trust policy, an
instance profile holding it and its share of t3.micro instances (one run_instances call per
instance: moto 5 attaches the profile only to the first instance of a call), all through the AWS
gate in-process (``learnlab.gate.client.aws_client``). The ticker's cadence then starts as in
``clock_run`` (without the lease): every second, ``credentials_tick()``, then sleep the rest of the
second. The first tick issues every instance's first set ("initial issue", timed on its own), the
next few, while nothing is due yet, are the empty-tick baseline, and the following ``--seconds``
are the run. Keeping one cadence from the first issue on matters: a set is due exactly
``renew_every`` after the tick that issued it, so lateness depends on where the later ticks fall.
Lateness and violations come from the InstanceCredentials rows afterwards. The sandbox server is
stopped and the data folder removed at the end, whatever happens.

    .venv/bin/python bench/ticker.py [--instances 1000] [--sandboxes 100] [--speed 360]
                                     [--seconds 60] [--json FILE]

Exits 0 when the measurement completed (goal met or not), 1 on errors.
"""

import argparse
import contextlib
import importlib.metadata
import logging
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import boto3
import botocore
import django
from benchlib import (
    BenchError,
    free_port,
    run_and_report,
    stop_with_parent,
    summarize,
)
from botocore.exceptions import BotoCoreError, ClientError

from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.site.launch import sandbox_server_start

ROOT = Path(__file__).resolve().parent.parent
GOAL_LATENESS_S = 1.0
TICK_SECONDS = 1.0  # as learnlab.ticker.services.TICK_SECONDS
AMI = "ami-0453ec754f44f9a4a"
INSTANCE_TYPE = "t3.micro"
ROLE = "bench-ticker"
EMPTY_TICKS = 5
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
# Settings that would point Django at the developer's own database, broker or keys.
NOT_INHERITED = ("DATABASE_URL", "LEARNLAB_REDIS_URL", "SECRET_KEY", "DEBUG")
SECRET_HEADER = "X-LearnLab-Secret"  # noqa: S105 - a header name, as in sandbox.connection


# The sandbox server


class SandboxServer:
    """``python -m learnlab.sandbox.server`` in its own session, on a free port."""

    def __init__(self, data_dir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.secret = secrets.token_hex(24)
        self.log_path = data_dir / "sandbox-server.log"
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self) -> None:
        env = {name: value for name, value in os.environ.items() if name not in NOT_INHERITED}
        env |= {"PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "wb") as log:
            self.process = sandbox_server_start(
                port=self.port,
                secret=self.secret,
                env=env,
                wait=0,  # wait_until_healthy times the start
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=stop_with_parent,  # if this script is killed outright
            )

    def wait_until_healthy(self, timeout: float = STARTUP_TIMEOUT) -> float:
        """Poll /_admin/health until it answers 200; returns the seconds it took."""
        started = time.monotonic()
        last = "no answer"
        request = urllib.request.Request(
            f"{self.url}/_admin/health", headers={SECRET_HEADER: self.secret}
        )
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise BenchError(
                    f"the sandbox server exited with {self.process.returncode}\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except urllib.error.HTTPError as error:
                last = f"{error.code}: {error.read().decode(errors='replace')}"
            except OSError as error:
                last = str(error)
            time.sleep(0.1)
        raise BenchError(f"sandbox server not healthy after {timeout:.0f} s ({last})")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "--- sandbox server output (last lines) ---\n" + "\n".join(
            text.splitlines()[-lines:]
        )

    def stop(self) -> None:
        """SIGTERM (it shuts down cleanly), SIGKILL after STOP_TIMEOUT. Safe to call twice."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


# Processes, from /proc


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rfind(")") + 2 :].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


# Django in this process


def django_start(data_dir: Path, server: SandboxServer, speed: int) -> None:
    """Point Django's settings at the temporary data folder and our sandbox server; migrate."""
    for name in NOT_INHERITED:
        os.environ.pop(name, None)
    os.environ |= {
        "LEARNLAB_DATA_DIR": str(data_dir),
        "LEARNLAB_SANDBOX_URL": server.url,
        "LEARNLAB_SANDBOX_SECRET": server.secret,
        "LEARNLAB_CLOCK_SPEED": str(speed),
        "DJANGO_SETTINGS_MODULE": "learnlab.settings",
    }
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    if speed != settings.LEARNLAB_CLOCK_SPEED:
        raise BenchError(f"Django runs at speed {settings.LEARNLAB_CLOCK_SPEED}, not {speed}")
    call_command("migrate", verbosity=0)
    logging.getLogger("learnlab.sandbox").setLevel(logging.WARNING)  # one line per sandbox


def django_stop() -> None:
    from django.apps import apps

    if apps.ready:
        from django.db import connections

        connections.close_all()


@contextlib.contextmanager
def django_on_own_sandbox_server(prefix: str, speed: int = 60):
    """A throwaway data folder, a sandbox server on it and Django in this process pointed at
    both; yields the server and cleans everything up (adding the server's last output to a
    BenchError)."""
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    server = SandboxServer(data_dir)
    try:
        server.start()
        server.wait_until_healthy()
        django_start(data_dir, server, speed)
        yield server
    except BenchError as error:
        raise BenchError(f"{error}\n{server.log_tail()}".rstrip()) from error
    finally:
        django_stop()
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def shares(instances: int, sandboxes: int) -> list[int]:
    """Instances per sandbox, as even as possible."""
    return [instances // sandboxes + (i < instances % sandboxes) for i in range(sandboxes)]


def build(instances: int, sandboxes: int) -> dict:
    """Provision the sandboxes and attach the instances; returns timings."""
    from learnlab.gate.client import aws_client
    from learnlab.learners.models import Learner
    from learnlab.sandbox import connection
    from learnlab.sandbox.services import sandbox_for_learner

    started = time.monotonic()
    made = 0
    every = max(1, sandboxes // 10)
    for number, count in enumerate(shares(instances, sandboxes), 1):
        sandbox = sandbox_for_learner(learner=Learner.objects.create())
        iam, ec2 = aws_client("iam", sandbox=sandbox), aws_client("ec2", sandbox=sandbox)
        iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=EC2_TRUST_POLICY)
        iam.create_instance_profile(InstanceProfileName=ROLE)
        iam.add_role_to_instance_profile(InstanceProfileName=ROLE, RoleName=ROLE)
        for _ in range(count):  # moto attaches the profile to the first instance of a call only
            ec2.run_instances(
                ImageId=AMI,
                InstanceType=INSTANCE_TYPE,
                MinCount=1,
                MaxCount=1,
                IamInstanceProfile={"Name": ROLE},
            )
        made += count
        if number % every == 0 or number == sandboxes:
            print(
                f"  {number:>4}/{sandboxes} sandboxes, {made:>5} instances "
                f"({time.monotonic() - started:.1f} s)",
                flush=True,
            )
    attached = len(connection.attached_instances())
    if attached != instances:
        raise BenchError(f"the sandbox server reports {attached} attached instances, not {made}")
    return {"build_s": time.monotonic() - started, "attached": attached}


# Measuring


def timed_tick() -> tuple[float, dict]:
    """One credentials_tick(): (milliseconds, its counts)."""
    from learnlab.imds.credentials import credentials_tick

    started = time.perf_counter()
    counts = credentials_tick()
    return (time.perf_counter() - started) * 1000.0, counts


def sleep_rest(started: float) -> None:
    """Sleep the rest of the tick that started at ``started`` (monotonic), as clock_run does."""
    time.sleep(max(0.0, TICK_SECONDS - (time.monotonic() - started)))


def initial_issue(expected: int) -> tuple[float, dict]:
    """The first ticks, which issue every instance's first set (each tick within its time
    budget, so it takes several); the ticker's cadence starts here."""
    total_ms, counts = 0.0, {"issued": 0, "ticks": 0}
    while counts["issued"] < expected and counts["ticks"] < 60:
        started = time.monotonic()
        duration, tick = timed_tick()
        total_ms += duration
        counts["issued"] += tick["issued"]
        counts["ticks"] += 1
        sleep_rest(started)
    return total_ms, counts


def empty_ticks(count: int) -> list[float]:
    """Ticks with every instance attached and nothing due, on the ticker's cadence; stops early
    when something is about to fall due."""
    from django.utils import timezone

    from learnlab.imds.models import InstanceCredentials

    first_due = InstanceCredentials.objects.order_by("renew_at").values_list("renew_at").first()
    samples = []
    for _ in range(count):
        if first_due is None or (first_due[0] - timezone.now()).total_seconds() < TICK_SECONDS:
            break
        started = time.monotonic()
        duration, counts = timed_tick()
        sleep_rest(started)
        if counts["renewed"] or counts["issued"] or counts["forgotten"]:
            break  # not empty after all: leave it out
        samples.append(duration)
    return samples


def run_ticker(seconds: float, server_pid: int) -> dict:
    """Tick once a second for ``seconds``, as clock_run does; CPU of both processes meanwhile."""
    from django.utils import timezone

    ticks = []
    wall_started = timezone.now()
    cpu_started, server_cpu_started = time.process_time(), cpu_seconds(server_pid)
    started = time.monotonic()
    deadline = started + seconds
    while time.monotonic() < deadline:
        tick_started = time.monotonic()
        duration, counts = timed_tick()
        ticks.append({"at_s": tick_started - started, "duration_ms": duration, **counts})
        sleep_rest(tick_started)
    wall = time.monotonic() - started
    cpu, server_cpu = time.process_time() - cpu_started, cpu_seconds(server_pid)
    return {
        "ticks": ticks,
        "window": (wall_started, timezone.now()),
        "wall_s": wall,
        "ticker_cpu_s": cpu,
        "server_cpu_s": server_cpu - server_cpu_started,
    }


def renewals(window: tuple[datetime, datetime], delivered: dict[int, datetime]) -> dict:
    """Lateness of every renewal made during the run, from the InstanceCredentials rows."""
    from learnlab.imds.models import InstanceCredentials

    started, ended = window
    chains: dict[tuple, list] = {}
    for row in InstanceCredentials.objects.order_by("issued_at", "pk"):
        chains.setdefault((row.sandbox_id, row.instance_id, row.role_name), []).append(row)
    by_tick, by_delivery = [], []
    violations_tick = violations_delivery = unpaired = lapsed = 0
    overdue = []
    for chain in chains.values():
        for old, new in zip(chain, [*chain[1:], None], strict=True):
            if old.superseded_at is None:
                if new is None:  # the current set: is it overdue by more than a tick?
                    late = (ended - old.renew_at).total_seconds()
                    if late > TICK_SECONDS:
                        overdue.append(late)
                elif started <= new.issued_at <= ended:
                    lapsed += 1  # expired unrenewed, then issued afresh: the instance had none
                continue
            if not started <= old.superseded_at <= ended:
                continue
            if new is None or new.pk not in delivered:
                unpaired += 1  # superseded, but no new set written: a failed renewal
                continue
            written = delivered[new.pk]
            by_tick.append((old.superseded_at - old.renew_at).total_seconds() * 1000.0)
            by_delivery.append((written - old.renew_at).total_seconds() * 1000.0)
            violations_tick += new.issued_at >= old.expires_at
            violations_delivery += written >= old.expires_at
    return {
        "renewals": len(by_delivery),
        "lateness_delivered_ms": summarize(by_delivery),
        "lateness_tick_time_ms": summarize(by_tick),
        "violations_delivered": violations_delivery,
        "violations_tick_time": violations_tick,
        "superseded_without_new_set": unpaired,
        "lapsed": lapsed,
        "overdue_at_end": len(overdue),
        "overdue_at_end_max_s": max(overdue, default=0.0),
    }


# Reporting


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def print_report(report: dict) -> None:
    config, ticks, rot = report["config"], report["ticks"], report["rotation"]
    durations, delivered = ticks["duration_ms"], rot["lateness_delivered_ms"]
    tick_time = rot["lateness_tick_time_ms"]
    cpu, memory = report["cpu_percent_of_one_core"], report["rss_mib"]
    initial, empty = report["initial_issue"], report["empty_tick_ms"]
    rows = [
        ("instances", f"{config['instances']:,} in {config['sandboxes']} sandboxes"),
        (
            "speed",
            f"{config['speed']} (sets live {config['lifetime_s']:g} s, "
            f"renewed every {config['renew_every_s']:g} s)",
        ),
        (
            "seconds",
            f"{config['seconds']:g} ({len(ticks['all'])} ticks, "
            f"{ticks['busy']} renewed something, {ticks['overran']} took over 1 s)",
        ),
        (
            "initial issue",
            f"{initial['issued']:,} sets in {initial['duration_ms'] / 1000:.2f} s "
            f"({initial['duration_ms'] / max(1, initial['issued']):.2f} ms/set)",
        ),
        ("renewals", f"{rot['renewals']:,}"),
        ("forgotten", f"{ticks['forgotten']:,} expired sets"),
        (
            "tick duration ms",
            f"p50 {_ms(durations['p50'])}  p95 {_ms(durations['p95'])}  "
            f"p99 {_ms(durations['p99'])}  max {_ms(durations['max'])}",
        ),
        (
            "empty tick ms",
            f"{_ms(empty and empty['p50'])} (median of "
            f"{empty['n'] if empty else 0}); average tick = "
            + (f"{report['tick_vs_empty']:.1f}x" if empty else "-"),
        ),
    ]
    if delivered:
        rows.append(
            (
                "lateness ms",
                f"p50 {_ms(delivered['p50'])}  p99 {_ms(delivered['p99'])}  "
                f"max {_ms(delivered['max'])}  (new set written)",
            )
        )
    if tick_time:
        rows.append(
            (
                "  by tick time ms",
                f"p50 {_ms(tick_time['p50'])}  "
                f"p99 {_ms(tick_time['p99'])}  "
                f"max {_ms(tick_time['max'])}  (superseded_at)",
            )
        )
    rows += [
        (
            "violations",
            f"{rot['violations_delivered']} new set written after the old expired "
            f"({rot['violations_tick_time']} by tick time); "
            f"{rot['superseded_without_new_set']} failed renewals, "
            f"{rot['lapsed']} lapsed sets",
        ),
        (
            "overdue at end",
            f"{rot['overdue_at_end']} sets over {TICK_SECONDS:g} s past renew_at"
            + (f" (oldest {rot['overdue_at_end_max_s']:.1f} s)" if rot["overdue_at_end"] else ""),
        ),
        (
            "CPU, % of one core",
            f"ticker {cpu['ticker']:.1f} %   sandbox server {cpu['sandbox_server']:.1f} %",
        ),
        (
            "memory (VmRSS)",
            f"ticker {_ms(memory['ticker'])} MiB   sandbox server "
            f"{_ms(memory['sandbox_server'])} MiB",
        ),
    ]
    print()
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print()
    p99 = delivered["p99"] / 1000 if delivered else None
    verdict = "MET" if report["goal_met"] else "NOT MET"
    shown = f"{p99:.2f} s" if p99 is not None else "no renewals"
    print(f"goal: lateness p99 < {GOAL_LATENESS_S:g} s: {verdict} ({shown})")


def run(args) -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix="learnlab-bench-ticker-"))
    server = SandboxServer(data_dir)
    stamps: dict[int, datetime] = {}
    try:
        server.start()
        print(f"starting the sandbox server on {server.url} ...", flush=True)
        startup = server.wait_until_healthy()
        django_start(data_dir, server, args.speed)

        from django.db.models.signals import post_save
        from django.utils import timezone

        from learnlab.imds.models import InstanceCredentials
        from learnlab.lib import clock

        def stamp(sender, instance, created, **_kwargs):
            if created:
                stamps[instance.pk] = timezone.now()

        post_save.connect(stamp, sender=InstanceCredentials, weak=False, dispatch_uid="bench")
        lifetime = clock.real(clock.CREDENTIAL_LIFETIME).total_seconds()
        renew_every = clock.renew_after().total_seconds()

        print(
            f"healthy after {startup:.1f} s; attaching {args.instances:,} instances "
            f"in {args.sandboxes} sandboxes ...",
            flush=True,
        )
        built = build(args.instances, args.sandboxes)

        print("initial issue: the first ticks issue every instance's first set ...", flush=True)
        initial_ms, initial = initial_issue(args.instances)
        if initial["issued"] != args.instances:
            raise BenchError(f"the first ticks issued {initial['issued']} sets, not all")
        empty = summarize(empty_ticks(EMPTY_TICKS))
        print(
            f"  {initial_ms / 1000:.2f} s; empty tick {_ms(empty and empty['p50'])} ms; "
            f"ticking for {args.seconds:g} s ...",
            flush=True,
        )

        loop = run_ticker(args.seconds, server.pid)
        rotation = renewals(loop["window"], stamps)
        server_rss, ticker_rss = rss_kib(server.pid), rss_kib(os.getpid())
        durations = [tick["duration_ms"] for tick in loop["ticks"]]
        summary = summarize(durations)
        delivered = rotation["lateness_delivered_ms"]
        report = {
            "config": {
                "instances": args.instances,
                "sandboxes": args.sandboxes,
                "speed": args.speed,
                "seconds": args.seconds,
                "lifetime_s": lifetime,
                "renew_every_s": renew_every,
                "goal_lateness_p99_s": GOAL_LATENESS_S,
            },
            "machine": {
                "python": platform.python_version(),
                "django": django.get_version(),
                "boto3": boto3.__version__,
                "botocore": botocore.__version__,
                "moto": importlib.metadata.version("moto"),
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
            },
            "startup_s": startup,
            "build": built,
            "initial_issue": {"duration_ms": initial_ms, **initial},
            "empty_tick_ms": empty,
            "tick_vs_empty": summary["mean"] / empty["p50"] if empty else None,
            "ticks": {
                "duration_ms": summary,
                "busy": sum(1 for tick in loop["ticks"] if tick["renewed"] or tick["issued"]),
                "overran": sum(1 for value in durations if value > TICK_SECONDS * 1000),
                "forgotten": sum(tick["forgotten"] for tick in loop["ticks"]),
                "all": loop["ticks"],
            },
            "rotation": rotation,
            "wall_s": loop["wall_s"],
            "cpu_seconds": {
                "ticker": loop["ticker_cpu_s"],
                "sandbox_server": loop["server_cpu_s"],
            },
            "cpu_percent_of_one_core": {
                "ticker": 100.0 * loop["ticker_cpu_s"] / loop["wall_s"],
                "sandbox_server": 100.0 * loop["server_cpu_s"] / loop["wall_s"],
            },
            "rss_mib": {
                "ticker": ticker_rss / 1024 if ticker_rss else None,
                "sandbox_server": server_rss / 1024 if server_rss else None,
            },
            "goal_met": bool(delivered) and delivered["p99"] < GOAL_LATENESS_S * 1000,
        }
        print_report(report)
    except BenchError as error:
        raise BenchError(f"{error}\n{server.log_tail()}".rstrip()) from error
    finally:
        # A second Ctrl-C must not cut the cleanup short: it is handled once the server is down.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            django_stop()
            server.stop()
            shutil.rmtree(data_dir, ignore_errors=True)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000, help="attached instances")
    parser.add_argument(
        "--sandboxes", type=int, default=100, help="learner sandboxes (10 instances each at most)"
    )
    parser.add_argument("--speed", type=int, default=360, help="lab clock speed, 1 to 360")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the ticker runs")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write all figures here")
    args = parser.parse_args(argv)
    if not 1 <= args.sandboxes <= args.instances:
        parser.error("need 1 <= --sandboxes <= --instances")
    if not 1 <= args.speed <= 360:
        parser.error("--speed must be 1 to 360")
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    return run_and_report(
        run, args, stopped="the sandbox server", errors=(ClientError, BotoCoreError)
    )


if __name__ == "__main__":
    sys.exit(main())
