"""The guided lab's reads: a step's text for this learner's sandbox, and the completion page's
account of what the learner built, how long it took and what to practise next."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Min

from learnlab.imds.models import InstanceCredentials
from learnlab.labs.catalog import Lab
from learnlab.labs.checks import SandboxView
from learnlab.labs.models import StepResult
from learnlab.labs.selectors import lab_facts
from learnlab.learners.models import Learner
from learnlab.lib import clock
from learnlab.quiz.bank import POINT_TITLES
from learnlab.quiz.selectors import mastery, next_practice_item
from learnlab.sandbox.models import Sandbox

PRACTISE_NEXT = 5  # exam points offered on the completion page


def duration_said(span: timedelta) -> str:
    """A duration as a person says it: "45 seconds", "1 minute 5 seconds", "2 hours 5 minutes"."""

    def said(count: int, unit: str) -> str:
        return f"{count} {unit}{'' if count == 1 else 's'}"

    seconds = max(0, round(span.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return said(hours, "hour") + (f" {said(minutes, 'minute')}" if minutes else "")
    if minutes:
        return said(minutes, "minute") + (f" {said(seconds, 'second')}" if seconds else "")
    return said(seconds, "second")


def step_values(*, sandbox: Sandbox | None) -> dict:
    """The values a lab's text may name (catalog.PLACEHOLDERS), for this sandbox's clock."""
    speed = sandbox.lab_clock_speed if sandbox else clock.speed()
    return {
        "clock_speed": speed,
        "lab_hour": duration_said(clock.real(clock.RENEW_EVERY, at_speed=speed)),
    }


@dataclass
class PractiseNext:
    point: str
    title: str
    score: float
    stem: str  # the question practice mode will ask first for this point ("" if none)


@dataclass
class Completion:
    built: dict  # role, profile, instance as the lab's checks found them
    key_ids: list[str]  # the instance's role credentials the learner saw, oldest first
    took: str | None  # from the learner's first change to the last step passing
    points: list[tuple[str, str]]  # (exam point, its title), as the lab teaches them
    practise: list[PractiseNext]


def lab_completion(*, learner: Learner, sandbox: Sandbox | None, lab: Lab) -> Completion:
    """What the completion page shows. ``sandbox`` None: the sandbox server is not answering,
    so what was built is not read (the rest is the database's)."""
    built: dict = {}
    key_ids: list[str] = []
    started = None
    if sandbox is not None:
        built = lab_facts(view=SandboxView(sandbox), lab=lab)
        seen = InstanceCredentials.objects.filter(sandbox=sandbox).exclude(
            fetched_at=None, shown_at=None
        )
        if built.get("instance"):
            seen = seen.filter(instance_id=built["instance"])
        key_ids = list(
            seen.order_by("issued_at").values_list("access_key__access_key_id", flat=True)
        )
        started = sandbox.calls.aggregate(first=Min("made_at"))["first"]
    results = StepResult.objects.filter(learner=learner, lab=lab.slug)
    passed = [r.passed_at for r in results if r.passed_at]
    took = None
    if passed:
        begin = min(filter(None, [started, *passed]))
        took = duration_said(max(passed) - begin)
    weakest = [m for m in mastery(learner=learner) if m.point in lab.points]
    practise = []
    for row in weakest[:PRACTISE_NEXT]:
        item = next_practice_item(learner=learner, points=[row.point], due_only=False)
        practise.append(PractiseNext(row.point, row.title, row.score, item.stem if item else ""))
    return Completion(
        built={k: built.get(k) for k in ("role", "profile", "instance")},
        key_ids=key_ids,
        took=took,
        points=[(p, POINT_TITLES[p]) for p in lab.points],
        practise=practise,
    )
