"""Does the sandbox server give memory back? 2,000 sandboxes created, used and reaped.

Starts its own sandbox server (free port, random secret) and runs Django in-process on a
throwaway data folder, as ``ticker.py`` does. After a warm-up (one sandbox built and reaped, so
moto's one-off imports and caches count in the starting point), it measures the server's
resident memory, then creates ``--sandboxes`` sandboxes ``--live`` at a time, as classes come and
go: each is provisioned through LearnLab's services, gets the lab's resources through the AWS
gate (a role with a policy, an instance profile, an instance launched with it), and each batch
is then reaped by ``sandbox_reap`` as the idle reaper would. It prints the memory at the start,
its peak with a batch alive, the memory per live sandbox, and at the end, with the ratio to the
start (goal: within 10 %), and the time each sandbox took.

    .venv/bin/python bench/churn.py [--sandboxes 2000] [--live 100] [--json FILE]

Exits 0 when the measurement completed (goal met or not), 1 on errors.
"""

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

from benchlib import BenchError, run_and_report, summarize
from ticker import django_on_own_sandbox_server, rss_kib

from learnlab.lib.iam_policy import EC2_TRUST_POLICY

GOAL_RATIO = 1.10
AMI = "ami-0453ec754f44f9a4a"


def build_and_use(number: int):
    """A learner's sandbox with what the lab builds in it; returns the sandbox."""
    from learnlab.gate.client import aws_client
    from learnlab.learners.models import Learner
    from learnlab.sandbox.services import sandbox_for_learner

    sandbox = sandbox_for_learner(learner=Learner.objects.create())
    iam, ec2 = aws_client("iam", sandbox=sandbox), aws_client("ec2", sandbox=sandbox)
    name = f"web{number}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.attach_role_policy(
        RoleName=name, PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    )
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    ec2.run_instances(
        ImageId=AMI,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        IamInstanceProfile={"Name": name},
    )
    return sandbox


def reap_all() -> int:
    from django.utils import timezone

    from learnlab.sandbox.models import Sandbox
    from learnlab.sandbox.services import sandbox_reap

    Sandbox.objects.update(last_used_at=timezone.now() - timedelta(days=2))
    return sandbox_reap(idle_for=timedelta(hours=24))


def run(args) -> dict:
    with django_on_own_sandbox_server("learnlab-bench-churn-") as server:
        from learnlab.sandbox import connection

        build_and_use(0)
        reap_all()
        start_kib = rss_kib(server.pid)
        # moto's own default account (123456789012) appears with its first request: not ours.
        accounts_at_start = connection.health()["accounts"]
        print(f"sandbox server after warm-up: {start_kib / 1024:.1f} MiB", flush=True)
        peak_kib, per_sandbox_s, made = start_kib, [], 0
        while made < args.sandboxes:
            batch = min(args.live, args.sandboxes - made)
            for number in range(made, made + batch):
                began = time.perf_counter()
                build_and_use(number + 1)
                per_sandbox_s.append(time.perf_counter() - began)
            live_kib = rss_kib(server.pid)
            peak_kib = max(peak_kib, live_kib)
            reaped = reap_all()
            if reaped != batch:
                raise BenchError(f"reaped {reaped} sandboxes, expected {batch}")
            made += batch
            after = rss_kib(server.pid)
            print(
                f"  {made:5d} created and reaped: {live_kib / 1024:6.1f} MiB with {batch} alive,"
                f" {after / 1024:6.1f} MiB after reaping",
                flush=True,
            )
        end_kib = rss_kib(server.pid)
        accounts = connection.health()["accounts"] - accounts_at_start
        report = {
            "sandboxes": args.sandboxes,
            "live_at_once": args.live,
            "rss_kib": {"start": start_kib, "peak": peak_kib, "end": end_kib},
            "kib_per_live_sandbox": (peak_kib - start_kib) / min(args.live, args.sandboxes),
            "end_vs_start": end_kib / start_kib,
            "accounts_left": accounts,
            "seconds_per_sandbox": summarize(per_sandbox_s),
            "goal_met": end_kib / start_kib <= GOAL_RATIO and accounts == 0,
        }
        print(
            f"{args.sandboxes} sandboxes, {args.live} at a time: start {start_kib / 1024:.1f} MiB,"
            f" peak {peak_kib / 1024:.1f} MiB ({report['kib_per_live_sandbox']:.0f} KiB per live"
            f" sandbox), end {end_kib / 1024:.1f} MiB = {report['end_vs_start']:.3f}x the start"
            f" (goal <= {GOAL_RATIO}); {accounts} of our accounts left; build p50"
            f" {report['seconds_per_sandbox']['p50'] * 1000:.0f} ms"
        )
        print(f"goal memory_back_within_10_percent: {'MET' if report['goal_met'] else 'NOT met'}")
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandboxes", type=int, default=2000)
    parser.add_argument("--live", type=int, default=100, help="sandboxes alive at once")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")
    args = parser.parse_args(argv)
    if args.sandboxes < 1 or args.live < 1:
        parser.error("--sandboxes and --live must be positive")
    return run_and_report(run, args, stopped="the sandbox server")


if __name__ == "__main__":
    sys.exit(main())
