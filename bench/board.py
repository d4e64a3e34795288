"""How fast the instructor's live board renders for a big class.

Builds a class of ``--learners`` learners (default 300) in a fresh temporary database: each has
joined, checked some lab steps (passed ones, and a failed last check with its reason on the step
they are on) and answered quiz questions. Then it requests the board's grid fragment, the part
htmx polls every few seconds, through Django's full request path (middleware, session, auth,
template) ``--requests`` times, and the same fragment for an empty class as the baseline measured
in the same run. It prints p50/p95/p99 per render, the ratio to the baseline, the number of SQL
queries per render (bounded: the same for 1 or 300 learners) and the process's resident memory.

The goal is p95 under 100 ms at 300 learners. No sandbox server is needed: the board reads only
the database.

    .venv/bin/python bench/board.py [--learners 300] [--requests 200] [--json FILE]

Exits 0 when the measurement completed (goal met or not), 1 on errors.
"""

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import django
from benchlib import run_and_report, summarize

GOAL_P95_MS = 100.0
NOT_INHERITED = ("DATABASE_URL", "LEARNLAB_REDIS_URL", "SECRET_KEY", "DEBUG")


def django_start(data_dir: Path) -> None:
    for name in NOT_INHERITED:
        os.environ.pop(name, None)
    os.environ |= {
        "LEARNLAB_DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "learnlab.settings",
        "ALLOWED_HOSTS": "testserver",
    }
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build_class(*, name: str, learners: int, seed: int = 7):
    """A class with ``learners`` members at random points of the lab, with quiz answers."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from learnlab.classroom.models import Membership
    from learnlab.classroom.services import classroom_create, instructor_grant
    from learnlab.labs.catalog import lab_get
    from learnlab.labs.models import StepResult
    from learnlab.learners.models import Learner
    from learnlab.quiz.bank import load_bank
    from learnlab.quiz.models import Answer

    rng = random.Random(seed)
    user = get_user_model().objects.create_user(username=name)  # signed in with force_login
    instructor_grant(user=user)
    classroom = classroom_create(instructor=user, name=name)
    steps = lab_get(classroom.lab).steps
    items = list(load_bank())
    now = timezone.now()
    results, answers = [], []
    for n in range(learners):
        learner = Learner.objects.create(display_name=f"Learner {n:03d}")
        Membership.objects.create(classroom=classroom, learner=learner, display_name=f"L{n:03d}")
        reached = rng.randint(0, len(steps))
        for number, step in enumerate(steps[:reached], 1):
            passed = number < reached or rng.random() < 0.5
            checked = now - timedelta(minutes=rng.randint(1, 60))
            results.append(
                StepResult(
                    learner=learner,
                    lab=classroom.lab,
                    step=step.slug,
                    passed=passed,
                    message="Role web trusts lambda.amazonaws.com, a different AWS service.",
                    attempts=rng.randint(1, 4),
                    checked_at=checked,
                    passed_at=checked if passed else None,
                )
            )
        for item_id in rng.sample(items, 10):
            answers.append(
                Answer(
                    learner=learner,
                    item_id=item_id,
                    chosen=[0],
                    correct=rng.random() < 0.7,
                    mode="practice",
                )
            )
    StepResult.objects.bulk_create(results)
    Answer.objects.bulk_create(answers)
    return user, classroom


def measure(client, url: str, requests: int) -> tuple[list[float], int]:
    from django.db import connection

    client.get(url, HTTP_HX_REQUEST="true")  # warm: templates compiled, caches filled
    queries = []
    with connection.execute_wrapper(
        lambda execute, sql, *a: queries.append(sql) or execute(sql, *a)
    ):
        response = client.get(url, HTTP_HX_REQUEST="true")
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        client.get(url, HTTP_HX_REQUEST="true")
        samples.append((time.perf_counter() - started) * 1000)
    return samples, len(queries)


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run(args) -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix="learnlab-bench-board-"))
    try:
        django_start(data_dir)
        from django.test import Client

        started = time.perf_counter()
        empty_user, empty = build_class(name="empty", learners=0)
        user, classroom = build_class(name="big", learners=args.learners)
        built = time.perf_counter() - started
        client = Client()
        client.force_login(empty_user)
        baseline, baseline_queries = measure(
            client, f"/class/teach/{empty.code}/grid", args.requests
        )
        client.force_login(user)
        board, queries = measure(client, f"/class/teach/{classroom.code}/grid", args.requests)
        report = {
            "learners": args.learners,
            "requests": args.requests,
            "build_seconds": round(built, 2),
            "board_ms": summarize(board),
            "empty_board_ms": summarize(baseline),
            "queries_per_render": queries,
            "queries_per_render_empty": baseline_queries,
            "rss_mib": round(rss_mib(), 1),
        }
        report["ratio_p50"] = report["board_ms"]["p50"] / report["empty_board_ms"]["p50"]
        report["goal_met"] = report["board_ms"]["p95"] < GOAL_P95_MS
        print_report(report)
        return report
    finally:
        from django.db import connections

        connections.close_all()
        shutil.rmtree(data_dir, ignore_errors=True)


def print_report(report: dict) -> None:
    board, empty = report["board_ms"], report["empty_board_ms"]
    print(f"live board grid, {report['learners']} learners, {report['requests']} requests each")
    print(f"  {'':22} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}")
    for label, figures in (("empty class (baseline)", empty), ("big class", board)):
        print(
            f"  {label:22} {figures['p50']:8.1f} {figures['p95']:8.1f} "
            f"{figures['p99']:8.1f} {figures['max']:8.1f}  ms"
        )
    print(f"  ratio p50 big/empty: {report['ratio_p50']:.1f}x")
    print(
        f"  SQL queries per render: {report['queries_per_render']} "
        f"(empty class: {report['queries_per_render_empty']})"
    )
    print(f"  resident memory: {report['rss_mib']} MiB")
    verdict = "MET" if report["goal_met"] else "NOT met"
    print(f"goal p95 < {GOAL_P95_MS:.0f} ms: {verdict} ({board['p95']:.1f} ms)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=300)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    return run_and_report(run, args, stopped="nothing")


if __name__ == "__main__":
    sys.exit(main())
