"""Do SDKs on lab instances keep working across rotations? N boto3 clients for M minutes a speed.

For each speed in ``--speeds`` (default 1, 60 and 360) the script starts a stack of its own
(``manage.py runstack`` through ``learnlab.site.launch``, free ports, a throwaway data folder,
``LEARNLAB_CLOCK_SPEED`` set), so the lab clock ticks on the real task cluster. It makes
``--clients`` learners as a browser would (``/sandbox/env``: a sandbox and its keys), builds in
each a role EC2 may assume, a profile and an instance through the gate, and reads the instance's
shell lines (``/sandbox/env?instance=``). Then each client is its own Python process with only
those lines as its environment (no keys): boto3's default chain finds the role's credentials
through the instance's metadata service (botocore's InstanceMetadataProvider and
RefreshableCredentials, unpatched), and calls ``sts get-caller-identity`` through the gate about
once a second for ``--minutes``. Meanwhile the script reads each instance's credentials document
once a second, as an application that re-reads the metadata service would.

It prints, per speed: calls, errors (goal 0, with the first few), botocore's "credential
expiration extension" log lines (goal 0), rotations seen on the metadata service (distinct key
ids served), key changes seen by the clients, and calls/s per client against the baseline: the
same client loop with the lab user's static keys for ``--baseline-seconds``, measured first in
the same stack. Key changes seen by clients are few by design: botocore keeps a set until 15 min
before its Expiration, and every set lives at least 30 real minutes (docs/clock.md).

    .venv/bin/python bench/sdk_soak.py [--clients 2] [--minutes 3] [--speeds 1,60,360]
                                       [--baseline-seconds 10] [--json FILE]

Exits 0 when the measurement completed (goal met or not), 1 on errors.
"""

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.cookies import SimpleCookie
from pathlib import Path

import boto3
from benchlib import BenchError, free_port, run_and_report, stop_with_parent
from botocore.config import Config

from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.site.launch import free_port_run, stack_env, stack_start, stack_wait

ROOT = Path(__file__).resolve().parent.parent
AMI = "ami-0453ec754f44f9a4a"
EXTENSION = "Attempting credential expiration extension"
GATE_PREFIX = "/aws"  # learnlab.gate.parsing.GATE_PREFIX (importing it needs Django's settings)

# One client: its environment is the instance's shell lines; it prints one JSON line at the end.
CLIENT = r"""
import json, logging, sys, time
import boto3
from botocore.config import Config

extensions = []
class Catch(logging.Handler):
    def emit(self, record):
        if "Attempting credential expiration extension" in record.getMessage():
            extensions.append(record.getMessage())
for name in ("botocore.credentials", "botocore.utils"):
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.addHandler(Catch())
seconds, endpoint = float(sys.argv[1]), sys.argv[2]
session = boto3.Session()
sts = session.client("sts", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}))
credentials = session.get_credentials()
calls, errors, keys = 0, [], []
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    began = time.monotonic()
    try:
        sts.get_caller_identity()
    except Exception as error:
        errors.append(repr(error)[:200])
    calls += 1
    if credentials is not None:
        key = credentials.get_frozen_credentials().access_key
        if not keys or keys[-1] != key:
            keys.append(key)
    time.sleep(max(0.0, 1.0 - (time.monotonic() - began)))
print(json.dumps({"calls": calls, "errors": errors, "keys": keys, "extensions": extensions,
                  "method": getattr(credentials, "method", None)}))
"""


class Stack:
    """``manage.py runstack`` on free ports and a throwaway data folder, at one clock speed."""

    def __init__(self, speed: int):
        self.speed = speed
        self.data_dir = Path(tempfile.mkdtemp(prefix="learnlab-bench-soak-"))
        self.port, self.sandbox_port = free_port(), free_port_run(1)
        self.process = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = stack_env(
            port=self.port,
            data_dir=self.data_dir,
            LEARNLAB_SANDBOX_URL=f"http://127.0.0.1:{self.sandbox_port}",
            LEARNLAB_SANDBOX_SECRET=secrets.token_hex(16),
            LEARNLAB_CLOCK_SPEED=str(self.speed),
            LEARNLAB_NEW_LEARNERS_PER_CLIENT="0",
        )
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
        )
        self.log = (self.data_dir / "stack.log").open("w")
        self.process = stack_start(env, stdout=self.log, preexec_fn=stop_with_parent)
        stack_wait(self.process, self.port, timeout=90)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _get(base: str, path: str, cookies: dict) -> str:
    request = urllib.request.Request(
        base + path, headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                cookies[name] = morsel.value
        return response.read().decode()


def _exports(text: str) -> dict:
    return dict(re.findall(r"export (\w+)='?([^'\n]*)'?", text))


def learner_instance(base: str, number: int) -> dict:
    """A learner's sandbox with a role, profile and instance; the instance's shell lines."""
    cookies: dict = {}
    _get(base, "/sandbox/panel", cookies)  # a session and a sandbox
    keys = _exports(_get(base, "/sandbox/env", cookies))
    make = {
        "region_name": "us-east-1",
        "endpoint_url": base + GATE_PREFIX,
        "aws_access_key_id": keys["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": keys["AWS_SECRET_ACCESS_KEY"],
    }
    iam, ec2 = boto3.client("iam", **make), boto3.client("ec2", **make)
    name = f"soak{number}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    instance_id = ec2.run_instances(
        ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1,
        IamInstanceProfile={"Name": name},
    )["Instances"][0]["InstanceId"]  # fmt: skip
    shell = _exports(_get(base, f"/sandbox/env?instance={instance_id}", cookies))
    return {"role": name, "lab_keys": make, "shell": shell}


def client_env(shell: dict, home: Path) -> dict:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(home / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"),
        **shell,
    }


def baseline_rate(base: str, lab_keys: dict, seconds: float) -> float:
    """Calls/s of the same one-a-second loop with static keys: what the loop itself allows."""
    sts = boto3.client("sts", config=Config(retries={"max_attempts": 1}), **lab_keys)
    calls, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        began = time.monotonic()
        sts.get_caller_identity()
        calls += 1
        time.sleep(max(0.0, 1.0 - (time.monotonic() - began)))
    return calls / seconds


def watch_metadata(shell: dict, role: str, stop: threading.Event, seen: set) -> None:
    """Read the credentials document once a second: the key ids the metadata service serves."""
    endpoint = shell["AWS_EC2_METADATA_SERVICE_ENDPOINT"].rstrip("/")
    while not stop.is_set():
        try:
            with urllib.request.urlopen(
                f"{endpoint}/latest/meta-data/iam/security-credentials/{role}", timeout=10
            ) as response:
                seen.add(json.loads(response.read())["AccessKeyId"])
        except (OSError, ValueError, KeyError):
            pass  # counted by nobody: the clients' errors are the measure
        stop.wait(1.0)


def soak(speed: int, clients: int, minutes: float, baseline_seconds: float) -> dict:
    stack = Stack(speed)
    try:
        stack.start()
        instances = [learner_instance(stack.base, number) for number in range(clients)]
        baseline = baseline_rate(
            stack.base, instances[0]["lab_keys"] | {"endpoint_url": stack.base + GATE_PREFIX},
            baseline_seconds,
        )  # fmt: skip
        stop, seen = threading.Event(), [set() for _ in instances]
        watchers = [
            threading.Thread(target=watch_metadata, args=(i["shell"], i["role"], stop, s))
            for i, s in zip(instances, seen, strict=True)
        ]
        for watcher in watchers:
            watcher.start()
        homes = [Path(tempfile.mkdtemp(prefix="learnlab-soak-client-")) for _ in instances]
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", CLIENT, str(minutes * 60), stack.base + GATE_PREFIX],
                env=client_env(i["shell"], home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, preexec_fn=stop_with_parent,
            )
            for i, home in zip(instances, homes, strict=True)
        ]  # fmt: skip
        results = []
        for process in processes:
            out, err = process.communicate(timeout=minutes * 60 + 120)
            if process.returncode != 0:
                raise BenchError(f"a client failed: {err[-500:]}")
            results.append(json.loads(out.strip().splitlines()[-1]))
        stop.set()
        for watcher in watchers:
            watcher.join()
        for home in homes:
            shutil.rmtree(home, ignore_errors=True)
    finally:
        stack.stop()
    calls = sum(r["calls"] for r in results)
    return {
        "speed": speed,
        "clients": clients,
        "minutes": minutes,
        "calls": calls,
        "errors": sum(len(r["errors"]) for r in results),
        "first_errors": [e for r in results for e in r["errors"]][:3],
        "extensions": sum(len(r["extensions"]) for r in results),
        "rotations_served": sum(max(0, len(s) - 1) for s in seen),
        "client_key_changes": sum(max(0, len(r["keys"]) - 1) for r in results),
        "methods": sorted({str(r["method"]) for r in results}),
        "calls_per_s_per_client": calls / clients / (minutes * 60),
        "baseline_calls_per_s": baseline,
    }


def run(args) -> dict:
    speeds = [int(s) for s in args.speeds.split(",")]
    rows = [soak(speed, args.clients, args.minutes, args.baseline_seconds) for speed in speeds]
    print(
        f"{'speed':>5} {'calls':>6} {'errors':>6} {'extensions':>10} {'rotations':>9} "
        f"{'key changes':>11} {'calls/s/client':>14} {'baseline':>8}  credentials"
    )
    for row in rows:
        print(
            f"{row['speed']:>5} {row['calls']:>6} {row['errors']:>6} {row['extensions']:>10} "
            f"{row['rotations_served']:>9} {row['client_key_changes']:>11} "
            f"{row['calls_per_s_per_client']:>14.2f} {row['baseline_calls_per_s']:>8.2f}  "
            f"{','.join(row['methods'])}"
        )
        for error in row["first_errors"]:
            print(f"      error: {error}")
    goal = all(row["errors"] == 0 and row["extensions"] == 0 for row in rows)
    print(f"goal (0 errors, 0 expiration extensions): {'met' if goal else 'NOT met'}")
    print(
        "rotations = new key ids the metadata service served (summed over instances); key "
        "changes = sets a client switched to (botocore keeps one until 15 min before expiry)"
    )
    return {"rows": rows, "goal_met": goal}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--speeds", default="1,60,360")
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.clients < 1 or args.minutes <= 0:
        parser.error("--clients must be at least 1 and --minutes above 0")
    return run_and_report(run, args, stopped="every stack and client")


if __name__ == "__main__":
    sys.exit(main())
