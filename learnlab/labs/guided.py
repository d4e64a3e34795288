"""The guided lab's reads: a step's text for this learner's sandbox, and the completion page's
account of what the learner built, how long it took and what to practise next."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Min

from learnlab.imds.models import InstanceCredentials
from learnlab.labs.catalog import Lab, Step
from learnlab.labs.checks import SandboxView
from learnlab.labs.models import StepResult
from learnlab.labs.services import check_run
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
class BuiltStep:
    """One step of "What you built": what the lab's own check reports of it now."""

    step: Step
    passes: bool | None  # None: not read now (the sandbox server is not answering)
    said: str  # the check's passing message; else what it found (its facts) and why not


@dataclass
class Completion:
    built: list[BuiltStep]  # each step as the lab's own checks report it
    facts: dict  # every step's facts merged (``instance``: the credentials below are its)
    key_ids: list[str]  # the instance's role credentials the learner saw, oldest first
    took: str | None  # from the learner's first change to the last step passing
    points: list[tuple[str, str]]  # (exam point, its title), as the lab teaches them
    practise: list[PractiseNext]


def _facts_said(facts: dict) -> str:
    """A check's facts as words: "role web, profile web" (flags and counts left out)."""
    return ", ".join(
        f"{name.replace('_', ' ')} {value}"
        for name, value in facts.items()
        if isinstance(value, str)
    )


def _built(view: SandboxView, lab: Lab) -> tuple[list[BuiltStep], dict]:
    """Each step's check run now, in order, on the same reads of the sandbox."""
    built, facts = [], {}
    for step in lab.steps:
        outcome = check_run(view=view, step=step)
        facts |= outcome.facts
        if outcome.passed:
            said = outcome.message
        else:
            found = _facts_said(outcome.facts)
            said = (
                f"Found: {found}. " if found else ""
            ) + f"It does not pass now: {outcome.message}"
        built.append(BuiltStep(step, outcome.passed, said))
    return built, facts


def lab_completion(*, learner: Learner, sandbox: Sandbox | None, lab: Lab) -> Completion:
    """What the completion page shows, for any lab: what was built is each step as the lab's
    own check reports it now (its passing message). ``sandbox`` None: the sandbox server is
    not answering, so each step says what its check said when it passed (the rest is the
    database's)."""
    built: list[BuiltStep] = []
    facts: dict = {}
    key_ids: list[str] = []
    started = None
    results = StepResult.objects.filter(learner=learner, lab=lab.slug)
    if sandbox is not None:
        built, facts = _built(SandboxView(sandbox), lab)
        seen = InstanceCredentials.objects.filter(sandbox=sandbox).exclude(
            fetched_at=None, shown_at=None
        )
        if facts.get("instance"):
            seen = seen.filter(instance_id=facts["instance"])
        key_ids = list(
            seen.order_by("issued_at").values_list("access_key__access_key_id", flat=True)
        )
        started = sandbox.calls.aggregate(first=Min("made_at"))["first"]
    else:
        stored = {r.step: r.message for r in results}
        built = [BuiltStep(step, None, stored.get(step.slug, "")) for step in lab.steps]
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
        built=built,
        facts=facts,
        key_ids=key_ids,
        took=took,
        points=[(p, POINT_TITLES[p]) for p in lab.points],
        practise=practise,
    )
