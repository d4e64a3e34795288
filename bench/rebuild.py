"""How long a class waits after `kill -9` of its sandbox server.

Starts its own sandbox server and runs Django in-process on a throwaway data folder, as
``ticker.py`` does, builds ``--sandboxes`` learners' sandboxes with the lab's resources through
the AWS gate (role with a policy, instance profile, instance), kills the server with SIGKILL and
starts a new one on the same port, then runs what the lab clock does every tick
(``sandbox_servers_watch``, ``sandbox_rebuild_lost`` within its budget) until every sandbox is
back. It prints the time from the kill to the last rebuild (goal: 10 s), the server's restart
time, the rebuild time per sandbox, and checks that every instance came back with its id.

    .venv/bin/python bench/rebuild.py [--sandboxes 300] [--json FILE]

Exits 0 when the measurement completed (goal met or not), 1 on errors.
"""

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from benchlib import BenchError, run_and_report
from churn import build_and_use
from ticker import django_on_own_sandbox_server

GOAL_SECONDS = 10.0
GIVE_UP_SECONDS = 120.0


def instance_ids(sandbox) -> list[str]:
    from learnlab.gate.client import aws_client

    reservations = aws_client("ec2", sandbox=sandbox).describe_instances()["Reservations"]
    return [i["InstanceId"] for r in reservations for i in r["Instances"]]


def run(args) -> dict:
    with django_on_own_sandbox_server("learnlab-bench-rebuild-") as server:
        from learnlab.sandbox.models import Sandbox
        from learnlab.sandbox.services import sandbox_rebuild_lost, sandbox_servers_watch
        from learnlab.ticker.services import REBUILD_BUDGET_SECONDS, TICK_SECONDS

        sandboxes = [build_and_use(number) for number in range(args.sandboxes)]
        before = {sandbox.pk: instance_ids(sandbox) for sandbox in sandboxes}
        sandbox_servers_watch()  # the clock has seen this server's boot id
        sandbox_rebuild_lost(budget_seconds=60)
        print(f"{args.sandboxes} sandboxes built; kill -9 of the sandbox server", flush=True)

        killed_at = time.monotonic()
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()
        server.start()
        restart = server.wait_until_healthy()
        ticks, lost_seen = 0, 0
        while True:  # the lab clock's loop, as clock_tick runs it
            started = time.monotonic()
            lost_seen += sandbox_servers_watch()
            sandbox_rebuild_lost(budget_seconds=REBUILD_BUDGET_SECONDS)
            ticks += 1
            if not Sandbox.objects.exclude(status=Sandbox.Status.READY).exists():
                break
            if time.monotonic() - killed_at > GIVE_UP_SECONDS:
                raise BenchError(f"sandboxes still lost {GIVE_UP_SECONDS:.0f} s after the kill")
            time.sleep(max(0.0, TICK_SECONDS - (time.monotonic() - started)))
        back_after = time.monotonic() - killed_at
        same = sum(instance_ids(sandbox) == before[sandbox.pk] for sandbox in sandboxes)
        report = {
            "sandboxes": args.sandboxes,
            "restart_s": restart,
            "all_back_after_s": back_after,
            "rebuild_ms_per_sandbox": (back_after - restart) / args.sandboxes * 1000,
            "lost_seen": lost_seen,
            "ticks": ticks,
            "same_instance_ids": same,
            # Every sandbox must have been seen lost: else nothing was measured.
            "goal_met": back_after <= GOAL_SECONDS and same == lost_seen == args.sandboxes,
        }
        print(
            f"all {args.sandboxes} sandboxes back {back_after:.1f} s after the kill (the server"
            f" restarted in {restart:.1f} s; {report['rebuild_ms_per_sandbox']:.1f} ms a sandbox,"
            f" {ticks} ticks); {same}/{args.sandboxes} with the same instance ids"
        )
        print(f"goal back_within_10_s: {'MET' if report['goal_met'] else 'NOT met'}")
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandboxes", type=int, default=300)
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")
    args = parser.parse_args(argv)
    if args.sandboxes < 1:
        parser.error("--sandboxes must be positive")
    return run_and_report(run, args, stopped="the sandbox server")


if __name__ == "__main__":
    sys.exit(main())
