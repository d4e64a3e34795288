"""Rewind a lab: the learner's sandbox back to how it was just before a step they reached, built
from the replay log (``sandbox/rewind.py``: the same ids), so they can try the step again.

"Just before step N" is the moment step N-1 first passed (``StepResult.passed_at``): what the
learner had built by then. Before step 1 it is the lab's prepared state (its setup calls, the
first in the log) or an empty sandbox. What LearnLab recorded on the instance after that moment
(credentials fetched, shown, used) is forgotten with it, and the results of step N and later
are cleared: the learner checks them again.
"""

from dataclasses import dataclass

from django.db import transaction

from learnlab.imds.models import InstanceCredentials
from learnlab.labs.catalog import Lab, Step
from learnlab.labs.models import StepResult
from learnlab.learners.models import Learner
from learnlab.live.services import topic_changed
from learnlab.sandbox.models import Sandbox
from learnlab.sandbox.rewind import sandbox_rewind


class RewindRefused(ValueError):
    """The step cannot be rewound to: the message says why and what the learner can do."""


@dataclass(frozen=True)
class RewindPoint:
    step: Step
    moment: object  # datetime, or None: before step 1


def rewind_points(*, learner: Learner | None, lab: Lab) -> list[RewindPoint]:
    """The steps the learner reached, each with the moment just before it: step 1 once they
    have any result, and each step whose previous step passed once. One query."""
    if learner is None:
        return []
    passed = dict(
        StepResult.objects.filter(learner=learner, lab=lab.slug)
        .exclude(passed_at=None)
        .values_list("step", "passed_at")
    )
    has_results = passed or StepResult.objects.filter(learner=learner, lab=lab.slug).exists()
    points = [RewindPoint(lab.steps[0], None)] if has_results else []
    for earlier, step in zip(lab.steps, lab.steps[1:], strict=False):
        if earlier.slug not in passed:
            break
        points.append(RewindPoint(step, passed[earlier.slug]))
    return points


def lab_rewind(*, learner: Learner, sandbox: Sandbox, lab: Lab, step: Step) -> int:
    """Take the learner's sandbox back to just before ``step`` and clear the results of it and
    the steps after it. Returns how many recorded calls were undone. RewindRefused when the
    learner has not reached the step; SandboxServerUnavailable when the server is down (the
    sandbox then comes back rewound on its next use)."""
    point = next((p for p in rewind_points(learner=learner, lab=lab) if p.step == step), None)
    if point is None:
        raise RewindRefused(
            f"You have not reached step {step.number} ({step.title}) yet: you can rewind only to "
            f"a step whose previous step passed. Reset the lab to start over."
        )
    with transaction.atomic():
        StepResult.objects.filter(
            learner=learner, lab=lab.slug, step__in=[s.slug for s in lab.steps[step.number - 1 :]]
        ).delete()
        seen = InstanceCredentials.objects.filter(sandbox=sandbox)
        if point.moment is None:
            seen.update(fetched_at=None, shown_at=None)
        else:
            seen.filter(fetched_at__gt=point.moment).update(fetched_at=None)
            seen.filter(shown_at__gt=point.moment).update(shown_at=None)
    topic_changed(f"learner:{learner.pk}")  # their page's notice and the class board
    return sandbox_rewind(sandbox=sandbox, to=point.moment, keep_first=len(lab.setup))
