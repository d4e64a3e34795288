"""What the stack holds in memory: RSS and PSS of every process of ``manage.py runstack``, by role.

The script starts the whole stack as ``make run`` does (``manage.py runstack`` on free ports, a
throwaway data folder: its own SQLite database and secret key), provisions one learner sandbox
through ``/sandbox/env``, makes a few AWS calls through the gate, opens the home page and the lab
list, lets the stack settle for ``--settle`` seconds (the lab clock ticks meanwhile) and reads
every process's memory from ``/proc/<pid>/status`` (VmRSS) and ``/proc/<pid>/smaps_rollup``
(Pss: pages shared between processes, such as a forked worker's inherited ones, split between
them). Beside the stack, in
the same run, the baseline: a bare Python interpreter and a process that ran ``django.setup()``
only (what one LearnLab process costs before it does anything).

The task cluster's processes all carry the command line ``manage.py qcluster``; they are told
apart by their place in the tree: the main process, its sentinel, and the sentinel's children in
the order it spawns them (the workers, then the monitor, then the pusher).

    .venv/bin/python bench/memory.py [--settle 20] [--json FILE]

Exits 0 when the measurement completed, 1 on errors.
"""

import argparse
import http.cookiejar
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# This checkout's LearnLab, not the installed one (the venv's editable install points at one
# checkout: run from a worktree of an older commit, the bench would start that one's stack).
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import boto3
from benchlib import BenchError, run_and_report, stack_processes
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from gate import ROOT, Stack, provision

BASELINE = {
    "bare python": "pass",
    "django.setup() only": (
        "import os, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'learnlab.settings');"
        " django.setup()"
    ),
}
REPORT_LINE = "import sys; print(open('/proc/self/smaps_rollup').read()); sys.stdout.flush()"


def baseline(env: dict) -> dict[str, dict]:
    """RSS and PSS (MiB) of a bare interpreter and of a process that only set Django up."""
    found = {}
    for name, code in BASELINE.items():
        text = subprocess.run(
            [sys.executable, "-c", f"{code}\n{REPORT_LINE}"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        fields = {
            line.split(":")[0]: int(line.split()[1])
            for line in text.splitlines()
            if line.split(":")[0] in ("Rss", "Pss")
        }
        found[name] = {"rss_mib": fields["Rss"] / 1024, "pss_mib": fields["Pss"] / 1024}
    return found


def exercise(web_url: str) -> str:
    """What a learner does first: a sandbox, gate calls, the home page and the lab list."""
    env = provision(web_url)
    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env.get("AWS_DEFAULT_REGION", "us-east-1"),
    )
    config = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30)
    sts = session.client("sts", endpoint_url=env["AWS_ENDPOINT_URL"], config=config)
    iam = session.client("iam", endpoint_url=env["AWS_ENDPOINT_URL"], config=config)
    for _ in range(10):
        account = sts.get_caller_identity()["Account"]
        iam.list_roles()
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    for path in ("/", "/lab/"):
        with opener.open(f"{web_url}{path}", timeout=30) as response:
            response.read()
    return account


def tell_cluster_apart(processes: list[dict], parents: dict[int, int], workers: int) -> None:
    """Name the task cluster's processes by their place in its tree (see the docstring)."""
    cluster = [proc for proc in processes if proc["role"] == "task cluster"]
    pids = {proc["pid"] for proc in cluster}
    for proc in cluster:
        if parents.get(proc["pid"]) not in pids:
            proc["part"] = "main"
    sentinels = {parents[proc["pid"]] for proc in cluster if "part" not in proc} & pids
    for proc in cluster:
        if proc["pid"] in sentinels and parents.get(proc["pid"]) in pids:
            proc["part"] = "sentinel"
    children = sorted(
        (proc for proc in cluster if "part" not in proc), key=lambda proc: proc["start"]
    )
    names = ["worker"] * workers + ["monitor", "pusher"]
    for index, proc in enumerate(children):
        proc["part"] = names[index] if index < len(names) else "worker"


def start_times(processes: list[dict]) -> dict[int, int]:
    parents = {}
    for proc in processes:
        fields = Path(f"/proc/{proc['pid']}/stat").read_text().rsplit(")", 1)[1].split()
        parents[proc["pid"]] = int(fields[1])
        proc["start"] = int(fields[19])
    return parents


def by_role(processes: list[dict]) -> dict[str, dict]:
    roles: dict[str, dict] = {}
    for proc in processes:
        role = proc["role"]
        if role == "task cluster":
            names = (f"{role} ({proc['part']})", role, "total")
        else:
            names = (role, "total")
        for name in names:
            entry = roles.setdefault(name, {"processes": 0, "rss_mib": 0.0, "pss_mib": 0.0})
            entry["processes"] += 1
            entry["rss_mib"] += proc["rss_kib"] / 1024
            entry["pss_mib"] += (proc["pss_kib"] or 0) / 1024
    return roles


def print_report(processes: list[dict], roles: dict[str, dict], base: dict[str, dict]) -> None:
    print()
    print(f"{'pid':>7}  {'role':28} {'RSS MiB':>8} {'PSS MiB':>8}")
    for proc in processes:
        role = proc["role"] + (f" ({proc['part']})" if "part" in proc else "")
        pss = proc["pss_kib"] / 1024 if proc["pss_kib"] is not None else float("nan")
        print(f"{proc['pid']:>7}  {role:28} {proc['rss_kib'] / 1024:8.1f} {pss:8.1f}")
    print()
    print(f"{'role':32} {'processes':>9} {'RSS MiB':>8} {'PSS MiB':>8}")
    order = sorted(roles, key=lambda name: (name == "total", name))
    for name in order:
        entry = roles[name]
        print(f"{name:32} {entry['processes']:>9} {entry['rss_mib']:8.1f} {entry['pss_mib']:8.1f}")
    print()
    print("baseline, same run (one process each):")
    for name, entry in base.items():
        print(f"  {name:30} RSS {entry['rss_mib']:7.1f} MiB  PSS {entry['pss_mib']:7.1f} MiB")
    django_only = base["django.setup() only"]["rss_mib"]
    total = roles["total"]
    print(
        f"  the stack's RSS is {total['rss_mib'] / django_only:.1f}x and its PSS "
        f"{total['pss_mib'] / django_only:.1f}x one django.setup() process's RSS"
    )


def run(args) -> dict:
    stack = Stack()
    report: dict = {}
    try:
        stack.start()
        print(f"starting the stack on {stack.web_url} (sandbox server {stack.sandbox_url}) ...")
        startup = stack.wait_until_healthy()
        stack.remember_processes()
        account = exercise(stack.web_url)
        print(f"healthy after {startup:.1f} s; sandbox {account} used; settling {args.settle} s")
        time.sleep(args.settle)
        processes = stack_processes(stack.process.pid)
        parents = start_times(processes)
        workers = int(os.environ.get("LEARNLAB_Q_WORKERS", "2"))
        tell_cluster_apart(processes, parents, workers)
        roles = by_role(processes)
        base = baseline({**os.environ, "LEARNLAB_DATA_DIR": str(stack.data_dir)})
        print_report(processes, roles, base)
        report = {
            "startup_s": startup,
            "settle_s": args.settle,
            "processes": processes,
            "roles": roles,
            "baseline": base,
        }
    finally:
        stack.stop_and_warn()
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=20.0, help="seconds before measuring")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write all figures here")
    args = parser.parse_args(argv)
    if args.settle < 0:
        parser.error("need --settle >= 0")
    return run_and_report(
        run, args, stopped="the stack", errors=(ClientError, BotoCoreError, BenchError)
    )


if __name__ == "__main__":
    sys.exit(main())
