"""What the heavy requests cost LearnLab: the lab page, Check and the home page, in CPU-ms.

Starts LearnLab's own stack (``manage.py runstack`` on free ports and a throwaway data folder)
from this checkout, and with ``--before PATH`` first from another checkout too (e.g. a worktree of
an older commit: ``git worktree add /tmp/base <commit>``), in the same run. In each, one learner
opens the lab page, builds the lab's role, profile and instance through the gate (SigV4 signed
with botocore's signer), passes steps 1-3, and then the script sends ``--requests`` sequential
requests of each kind, reading the CPU time (utime + stime, /proc/<pid>/stat) every process of
the stack used meanwhile: web, sandbox server, task cluster. The home page (a trivial Django
view) is the baseline measured beside them.

    .venv/bin/python bench/labpage.py                       # this checkout, 100 requests a kind
    .venv/bin/python bench/labpage.py --before /tmp/base --requests 60 --json /tmp/labpage.json

It prints per kind the latency p50 and the CPU-ms per request by process, and with ``--before``
the ratio after/before of each (goal: the lab page and Check at half their CPU or less). The task
cluster's own work (the clock) runs meanwhile and is left out of the per-request figure.
Sequential requests on a quiet machine: latencies, not capacity.
"""

import argparse
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from http.cookies import SimpleCookie
from pathlib import Path

import urllib3
from benchlib import (
    BenchError,
    cpu_by_role,
    free_port,
    run_and_report,
    stack_processes,
    stop_with_parent,
    summarize,
)
from classroom import AMI, GATE_PREFIX, AwsSigner

from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.site.launch import stack_env, stack_wait

ROOT = Path(__file__).resolve().parent.parent
LAB = "/lab/instance-role/"
STEPS = ("create-role", "create-instance-profile", "attach-to-instance")


class Learner:
    def __init__(self, base: str):
        self.base, self.cookies = base, {}
        self.http = urllib3.PoolManager(maxsize=1, retries=False, timeout=30)

    def request(self, method: str, path: str, *, htmx: bool = False):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if htmx:
            headers["HX-Request"] = "true"
        if method == "POST":
            headers |= {"X-CSRFToken": self.cookies.get("csrftoken", ""), "Referer": self.base}
        response = self.http.request(method, self.base + path, headers=headers, redirect=False)
        for header in response.headers.getlist("Set-Cookie"):
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        if response.status >= 400:
            raise BenchError(f"{method} {path} answered {response.status}")
        return response


def build_lab(learner: Learner) -> None:
    learner.request("GET", LAB)
    env = learner.request("GET", "/sandbox/env").data.decode()
    values = dict(re.findall(r"export (\w+)='?([^'\n]*)'?", env))
    aws = AwsSigner(
        learner.http,
        learner.base + GATE_PREFIX,
        values["AWS_ACCESS_KEY_ID"],
        values["AWS_SECRET_ACCESS_KEY"],
    )
    name = "web"
    aws.call("iam", "CreateRole", RoleName=name, AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    aws.call("iam", "CreateInstanceProfile", InstanceProfileName=name)
    aws.call("iam", "AddRoleToInstanceProfile", InstanceProfileName=name, RoleName=name)
    aws.call("ec2", "RunInstances", ImageId=AMI, InstanceType="t3.micro", MinCount="1",
             MaxCount="1", **{"IamInstanceProfile.Name": name})  # fmt: skip
    for step in STEPS:
        learner.request("POST", f"{LAB}steps/{step}/check", htmx=True)


def measure(stack_pid: int, send, count: int) -> dict:
    latencies = []
    before = stack_processes(stack_pid)
    for _ in range(count):
        began = time.monotonic()
        send()
        latencies.append((time.monotonic() - began) * 1000)
    used = cpu_by_role(before, stack_processes(stack_pid))
    per_request = {role: round(1000 * cpu / count, 2) for role, cpu in sorted(used.items())}
    serving = sum(cpu for role, cpu in used.items() if role in ("web", "sandbox server"))
    return {
        "p50_ms": round(summarize(latencies)["p50"], 1),
        "cpu_ms_by_process": per_request,
        "cpu_ms": round(1000 * serving / count, 2),  # web + sandbox server
    }


def one_checkout(root: Path, count: int) -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix="learnlab-bench-labpage-"))
    port = free_port()
    env = stack_env(
        port=port,
        data_dir=data_dir,
        LEARNLAB_SANDBOX_SECRET=secrets.token_hex(16),
        LEARNLAB_GATE_RATE="0",
        PYTHONPATH=str(root),
    )
    python = sys.executable
    process = None
    try:
        subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=root, env=env, check=True)
        process = subprocess.Popen(
            [python, "manage.py", "runstack"],
            cwd=root,
            env=env,
            start_new_session=True,
            stdout=(data_dir / "stack.log").open("w"),
            stderr=subprocess.STDOUT,
            preexec_fn=stop_with_parent,
        )
        stack_wait(process, port, timeout=90)
        learner = Learner(f"http://127.0.0.1:{port}")
        build_lab(learner)
        kinds = {
            "home page": lambda: learner.request("GET", "/"),
            "lab page": lambda: learner.request("GET", LAB),
            "check": lambda: learner.request("POST", f"{LAB}steps/{STEPS[2]}/check", htmx=True),
        }
        for send in kinds.values():  # warm: templates compiled, clients made
            for _ in range(3):
                send()
        return {kind: measure(process.pid, send, count) for kind, send in kinds.items()}
    finally:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(data_dir, ignore_errors=True)


def run(args) -> dict:
    report = {"requests": args.requests, "after": {"root": str(ROOT)}}
    if args.before:
        report["before"] = {"root": str(args.before)} | one_checkout(args.before, args.requests)
    report["after"] |= one_checkout(ROOT, args.requests)
    print(f"{args.requests} sequential requests of each kind; CPU-ms per request, web + sandbox "
          f"server (the home page is the baseline)")  # fmt: skip
    for side in ("before", "after"):
        if side not in report:
            continue
        print(f"  {side}: {report[side]['root']}")
        for kind in ("home page", "lab page", "check"):
            figures = report[side][kind]
            detail = ", ".join(f"{k} {v}" for k, v in figures["cpu_ms_by_process"].items())
            print(f"    {kind:10} p50 {figures['p50_ms']:7.1f} ms  CPU {figures['cpu_ms']:7.2f} ms"
                  f"  ({detail})")  # fmt: skip
    if "before" in report:
        report["ratios"] = {}
        for kind in ("home page", "lab page", "check"):
            was, now = report["before"][kind], report["after"][kind]
            ratio = {
                "cpu": round(now["cpu_ms"] / was["cpu_ms"], 2) if was["cpu_ms"] else None,
                "p50": round(now["p50_ms"] / was["p50_ms"], 2) if was["p50_ms"] else None,
            }
            report["ratios"][kind] = ratio
            print(f"  after/before {kind:10} CPU {ratio['cpu']}x  p50 {ratio['p50']}x")
        for kind in ("lab page", "check"):
            met = (report["ratios"][kind]["cpu"] or 1) <= 0.5
            print(f"goal {kind} at half its CPU or less: {'MET' if met else 'NOT met'}")
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--before", type=Path, help="another checkout to measure first")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    return run_and_report(run, args, stopped="LearnLab")


if __name__ == "__main__":
    sys.exit(main())
