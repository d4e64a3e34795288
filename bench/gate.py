"""What the AWS gate costs: the same AWS calls through the gate and straight to the sandbox server.

Measures the latency of two operations, ``sts:GetCallerIdentity`` (the smallest request there is)
and ``iam:CreateRole`` (a write, with the gate's trust-policy check), on two paths:

    gate    boto3 -> gunicorn/Django /aws (SigV4 check, key lookup, fidelity rules, forwarding)
                  -> sandbox server (moto)
    direct  boto3 -> sandbox server (moto), with the x-moto-account-id header the gate would add

How: the script starts the whole stack with ``manage.py runstack`` on free ports, with a fresh
temporary data folder (its own SQLite database and secret key; the developer's data is never
touched), provisions one learner sandbox through ``/sandbox/env`` and makes one boto3 client per
path with the lab user's keys (reused across calls, no retries). For each operation it makes
``--warmup`` untimed calls per path, then ``--calls`` timed calls per path, sequentially, in
alternating blocks (gate, direct, direct, gate, ...) so that both paths see the same machine
conditions and the same amount of state in moto. It prints p50/p95/p99 and sequential
requests/s per operation and path, the gate/direct ratios with the goal (gate p50 <= 1.25x direct),
the resident memory of every process of the stack, and RSS and PSS by role (``bench/memory.py``
says more about memory). The stack is stopped at the end, whatever
happens.

    .venv/bin/python bench/gate.py [--calls 300] [--warmup 20] [--block 10] [--json FILE]

Exits 0 when the measurement completed (goal met or not), 1 on errors.
"""

import argparse
import contextlib
import http.cookiejar
import itertools
import os
import platform
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import boto3
import botocore
from benchlib import (
    BenchError,
    free_port,
    memory_by_role,
    print_memory,
    run_and_report,
    stack_processes,
    stop_with_parent,
)
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.site.launch import stack_env, stack_start

ROOT = Path(__file__).resolve().parent.parent
GOAL_RATIO = 1.25  # issue 16: the gate at p50 within 1.25x of a direct call
STARTUP_TIMEOUT = 60.0  # seconds: migrate, collectstatic, three processes and a clock heartbeat
STOP_TIMEOUT = 30.0  # the supervisor gives its children 5 s, then kills them
ORPHAN_GRACE = 3.0  # for grandchildren still exiting when runstack is gone
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
PATHS = ("gate", "direct")


# The stack


class Stack:
    """``manage.py runstack`` in its own session, on free ports, with a throwaway data folder."""

    def __init__(self):
        self.data_dir = Path(tempfile.mkdtemp(prefix="learnlab-bench-"))
        self.port = free_port()
        self.sandbox_url = f"http://127.0.0.1:{free_port()}"
        self.secret = secrets.token_hex(24)
        self.web_url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.data_dir / "runstack.log"
        self.process: subprocess.Popen | None = None
        self.known: dict[int, int] = {}  # pid -> start time of the stack's processes

    def start(self) -> None:
        env = stack_env(
            port=self.port,
            data_dir=self.data_dir,
            LEARNLAB_SANDBOX_URL=self.sandbox_url,
            LEARNLAB_SANDBOX_SECRET=self.secret,
            PYTHONUNBUFFERED="1",
            # One key calls back to back: measure the gate's path, not its per-key rate limit.
            LEARNLAB_GATE_RATE="0",
        )
        with open(self.log_path, "wb") as log:
            self.process = stack_start(
                env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                preexec_fn=stop_with_parent,  # if this script is killed outright
            )

    def wait_until_healthy(self, timeout: float = STARTUP_TIMEOUT) -> float:
        """Poll /healthz until it answers 200; returns the seconds it took."""
        started = time.monotonic()
        last = "no answer"
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise BenchError(
                    f"runstack exited with {self.process.returncode}\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.web_url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except urllib.error.HTTPError as error:
                last = f"{error.code}: {error.read().decode(errors='replace')}"
            except OSError as error:
                last = str(error)
            time.sleep(0.25)
        raise BenchError(f"/healthz not healthy after {timeout:.0f} s ({last})\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "--- runstack output (last lines) ---\n" + "\n".join(text.splitlines()[-lines:])

    def remember_processes(self) -> list[dict]:
        """Note the stack's processes now, so that stop() can find any that outlive runstack."""
        tree = process_tree(self.process.pid) if self.process is not None else []
        self.known.update((proc["pid"], proc["start"]) for proc in tree)
        return tree

    def stop(self) -> list[int]:
        """Stop runstack (it stops its children), then kill any descendant that outlived it.

        Returns the pids that had to be killed. Safe to call at any point, more than once.
        """
        leftovers: list[int] = []
        if self.process is not None:
            self.remember_processes()
            self.known.pop(self.process.pid, None)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            self.process = None
            deadline = time.monotonic() + ORPHAN_GRACE
            while self._survivors() and time.monotonic() < deadline:
                time.sleep(0.1)
            for pid in self._survivors():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    leftovers.append(pid)
            self.known.clear()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        return leftovers

    def stop_and_warn(self) -> None:
        """``stop`` with Ctrl-C held off (a second one must not cut the cleanup short: it is
        handled once the stack is down), saying which processes had to be killed."""
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            leftovers = self.stop()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        if leftovers:
            print(f"warning: killed processes that outlived runstack: {leftovers}", file=sys.stderr)

    def _survivors(self) -> list[int]:
        return [pid for pid, start in self.known.items() if _start_time(pid) == start]


# Processes and their memory, from /proc


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks) of a running process; None once it has exited
    (zombies included)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()  # the command name may contain spaces
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[1]), int(fields[19])


def _start_time(pid: int) -> int | None:
    """Identifies a process together with its pid, which the kernel may reuse."""
    stat = _stat(pid)
    return stat[1] if stat else None


def _rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _command(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError:
        return "?"
    args = [arg.decode(errors="replace") for arg in argv if arg]
    if args and Path(args[0]).name.startswith("python") and len(args) > 1:
        args = args[1:]  # "manage.py qcluster" says more than the interpreter's path
    if args:
        args[0] = Path(args[0]).name
    return " ".join(args)


def process_tree(root: int) -> list[dict]:
    """``root`` and all its descendants, parents before children, with their memory."""
    parents: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = stat
    children: dict[int, list[int]] = {}
    for pid, (ppid, _start) in parents.items():
        children.setdefault(ppid, []).append(pid)
    tree, stack = [], [(root, 0)]
    while stack:
        pid, depth = stack.pop()
        if pid not in parents:
            continue
        tree.append(
            {
                "pid": pid,
                "ppid": parents[pid][0],
                "start": parents[pid][1],
                "depth": depth,
                "command": _command(pid),
                "rss_kib": _rss_kib(pid),
            }
        )
        stack.extend((child, depth + 1) for child in sorted(children.get(pid, []), reverse=True))
    return tree


# The learner's sandbox and the two clients


def provision(web_url: str) -> dict:
    """GET /sandbox/env as a new visitor; returns its exported variables."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    try:
        opener.open(f"{web_url}/sandbox/panel", timeout=30).read()  # a session and a sandbox
        with opener.open(f"{web_url}/sandbox/env", timeout=30) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as error:
        raise BenchError(f"/sandbox/env answered {error.code}: {error.read()[:300]!r}") from error
    variables = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, value = words[1].split("=", 1)
            variables[name] = value
    missing = {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} - set(variables)
    if missing:
        raise BenchError(f"/sandbox/env lacks {sorted(missing)}: {text[:300]!r}")
    return variables


def make_clients(env: dict, endpoint: str, account_id: str | None) -> dict:
    """An STS and an IAM client for one path; with ``account_id``, add the account header."""
    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env.get("AWS_DEFAULT_REGION", "us-east-1"),
    )
    config = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30)
    clients = {}
    for service in ("sts", "iam"):
        client = session.client(service, endpoint_url=endpoint, config=config)
        if account_id is not None:

            def add_account(request, _account=account_id, **_kwargs):
                request.headers["x-moto-account-id"] = _account

            client.meta.events.register("before-send.*.*", add_account)
        clients[service] = client
    return clients


def operations(clients: dict) -> dict[str, dict[str, Callable[[], object]]]:
    """Per operation, per path, a no-argument call. CreateRole cycles through ROLE_NAMES names
    per path, deleting the name's earlier role untimed first (``timed`` runs ``call.before``):
    a sandbox holds 100 roles at most (learnlab/sandbox/quotas.py)."""
    calls: dict[str, dict[str, Callable[[], object]]] = {"GetCallerIdentity": {}, "CreateRole": {}}
    for path in PATHS:
        sts, iam = clients[path]["sts"], clients[path]["iam"]
        calls["GetCallerIdentity"][path] = sts.get_caller_identity
        calls["CreateRole"][path] = RoleCreator(iam, path)
    return calls


ROLE_NAMES = 40


class RoleCreator:
    def __init__(self, iam, path: str):
        self.iam, self.path, self.numbers = iam, path, itertools.count(1)
        self.name = ""

    def before(self) -> None:
        self.name = f"{self.path}-r-{next(self.numbers) % ROLE_NAMES:02d}"
        with contextlib.suppress(self.iam.exceptions.NoSuchEntityException):
            self.iam.delete_role(RoleName=self.name)

    def __call__(self):
        return self.iam.create_role(RoleName=self.name, AssumeRolePolicyDocument=EC2_TRUST_POLICY)


# Measuring


def timed(call: Callable[[], object], count: int) -> list[float]:
    samples = []
    before = getattr(call, "before", None)
    for _ in range(count):
        if before is not None:
            before()
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000.0)
    return samples


def measure(by_path: dict[str, Callable[[], object]], *, calls, warmup, block) -> dict:
    """Warm up each path, then time ``calls`` per path in alternating blocks."""
    for path in PATHS:
        timed(by_path[path], warmup)
    samples: dict[str, list[float]] = {path: [] for path in PATHS}
    for round_number in itertools.count():
        remaining = calls - len(samples[PATHS[0]])
        if remaining <= 0:
            break
        order = PATHS if round_number % 2 == 0 else tuple(reversed(PATHS))
        for path in order:
            samples[path] += timed(by_path[path], min(block, remaining))
    return samples


def summarize(samples: list[float]) -> dict:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "n": len(samples),
        "p50_ms": cuts[49],
        "p95_ms": cuts[94],
        "p99_ms": cuts[98],
        "mean_ms": statistics.fmean(samples),
        "min_ms": min(samples),
        "max_ms": max(samples),
        "requests_per_s": len(samples) / (sum(samples) / 1000.0),
    }


def compare(gate: dict, direct: dict) -> dict:
    ratio_p50 = gate["p50_ms"] / direct["p50_ms"]
    return {
        "ratio_p50": ratio_p50,
        "ratio_p95": gate["p95_ms"] / direct["p95_ms"],
        "overhead_p50_ms": gate["p50_ms"] - direct["p50_ms"],
        "goal_met": ratio_p50 <= GOAL_RATIO,
    }


# Reporting


def print_report(results: dict, comparisons: dict, tree: list[dict], memory: dict) -> None:
    header = f"{'operation':<18} {'path':<7} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
    header += f" {'req/s':>7}"
    print()
    print(header)
    print("-" * len(header))
    for operation, by_path in results.items():
        for path, row in by_path.items():
            print(
                f"{operation:<18} {path:<7} {row['n']:>5} {row['p50_ms']:>8.2f} "
                f"{row['p95_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['requests_per_s']:>7.1f}"
            )
    print()
    for operation, comparison in comparisons.items():
        verdict = "MET" if comparison["goal_met"] else "NOT MET"
        print(
            f"{operation:<18} gate/direct  p50 {comparison['ratio_p50']:.2f}x  "
            f"p95 {comparison['ratio_p95']:.2f}x  "
            f"(gate adds {comparison['overhead_p50_ms']:.2f} ms at p50)"
        )
        print(f"{'':<18} goal: gate p50 <= {GOAL_RATIO}x direct: {verdict}")
    print()
    print("resident memory of the stack (VmRSS):")
    for proc in tree:
        rss = f"{proc['rss_kib'] / 1024:8.1f} MiB" if proc["rss_kib"] is not None else "       ?"
        command = proc["command"]
        command = command if len(command) <= 70 else command[:67] + "..."
        print(f"  {rss}  {proc['pid']:>7}  {'  ' * proc['depth']}{command}")
    total = sum(proc["rss_kib"] or 0 for proc in tree)
    print(f"  {total / 1024:8.1f} MiB  total of {len(tree)} processes (shared pages count in each)")
    print("by role, RSS and PSS (shared pages split between the processes sharing them):")
    print_memory(memory)


def run(args) -> dict:
    stack = Stack()
    report: dict = {}
    try:
        stack.start()
        print(f"starting the stack on {stack.web_url} (sandbox server {stack.sandbox_url}) ...")
        startup = stack.wait_until_healthy()
        stack.remember_processes()
        print(f"healthy after {startup:.1f} s; provisioning a sandbox ...")
        env = provision(stack.web_url)
        gate = make_clients(env, env["AWS_ENDPOINT_URL"], None)  # what a learner's CLI uses
        account_id = gate["sts"].get_caller_identity()["Account"]
        direct = make_clients(env, stack.sandbox_url, account_id)
        direct_account = direct["sts"].get_caller_identity()["Account"]
        if direct_account != account_id:
            raise BenchError(f"direct calls reach account {direct_account}, not {account_id}")
        print(
            f"sandbox account {account_id}; {args.warmup} warm-up + {args.calls} timed calls "
            f"per operation and path, alternating blocks of {args.block}"
        )

        results: dict = {}
        comparisons: dict = {}
        for operation, by_path in operations({"gate": gate, "direct": direct}).items():
            samples = measure(by_path, calls=args.calls, warmup=args.warmup, block=args.block)
            results[operation] = {path: summarize(samples[path]) for path in PATHS}
            comparisons[operation] = compare(
                results[operation]["gate"], results[operation]["direct"]
            )
        tree = stack.remember_processes()
        memory = memory_by_role(stack_processes(stack.process.pid))
        print_report(results, comparisons, tree, memory)
        report = {
            "config": {
                "calls": args.calls,
                "warmup": args.warmup,
                "block": args.block,
                "goal_ratio_p50": GOAL_RATIO,
                "web_concurrency": os.environ.get("WEB_CONCURRENCY", "2"),
            },
            "machine": {
                "python": platform.python_version(),
                "boto3": boto3.__version__,
                "botocore": botocore.__version__,
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
            },
            "startup_s": startup,
            "results": results,
            "comparisons": comparisons,
            "processes": [
                {key: proc[key] for key in ("pid", "ppid", "command", "rss_kib")} for proc in tree
            ],
            "memory_by_role": memory,
        }
    finally:
        stack.stop_and_warn()
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="timed calls per operation and path")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls first, per path")
    parser.add_argument("--block", type=int, default=10, help="calls per path before switching")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write all figures here")
    args = parser.parse_args(argv)
    if args.calls < 2 or args.warmup < 0 or args.block < 1:
        parser.error("need --calls >= 2, --warmup >= 0 and --block >= 1")
    return run_and_report(run, args, stopped="the stack", errors=(ClientError, BotoCoreError))


if __name__ == "__main__":
    sys.exit(main())
