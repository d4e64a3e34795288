from dataclasses import dataclass
from datetime import datetime

from django.db.models import Max

from learnlab.labs.catalog import Lab, Step
from learnlab.labs.checks import SandboxView
from learnlab.labs.models import StepResult
from learnlab.labs.services import check_run
from learnlab.learners.models import Learner
from learnlab.sandbox.models import Sandbox


@dataclass
class StepProgress:
    step: Step
    result: StepResult | None

    @property
    def passed(self) -> bool:
        """Passed when checked, and every earlier step passed too (steps count in order). A
        stale pass still counts: it was true when checked, and its result says to check
        again."""
        return bool(self.result and self.result.passed and self.result.blocked_by is None)

    @property
    def stale(self) -> bool:
        return bool(self.result and self.result.stale)


def sandboxes_changed_at(*, learner_ids) -> dict:
    """learner id -> when that learner's sandbox last changed: its newest recorded call (what a
    rebuild would replay), or its reset or rebuild, whichever is later. One query for any
    number of learners (the classroom board can show a stale pass with it)."""
    rows = (
        Sandbox.objects.filter(learner_id__in=learner_ids)
        .annotate(last_call=Max("calls__made_at"))
        .values_list("learner_id", "built_at", "last_call")
    )
    return {
        learner_id: max(moment for moment in (built, call) if moment is not None)
        for learner_id, built, call in rows
    }


def sandbox_changed_at(*, learner: Learner) -> datetime | None:
    """When the learner's sandbox last changed (``sandboxes_changed_at``); None: no sandbox."""
    return sandboxes_changed_at(learner_ids=[learner.pk]).get(learner.pk)


def lab_progress(*, learner: Learner | None, lab: Lab) -> tuple[list[StepProgress], Step]:
    """Each step with its stored result, and the step to resume at: the first not passed.

    A result checked before the sandbox last changed is ``stale`` (shown as such, counted as
    before); a stored pass after a step that does not pass is ``blocked_by`` that step and does
    not count. Two queries."""
    results, changed_at = {}, None
    if learner is not None:
        results = {r.step: r for r in StepResult.objects.filter(learner=learner, lab=lab.slug)}
        if results:
            changed_at = sandbox_changed_at(learner=learner)
    progress, blocking = [], None
    for step in lab.steps:
        result = results.get(step.slug)
        if result is not None:
            result.stale = changed_at is not None and result.checked_at < changed_at
            if result.passed and blocking is not None:
                result.blocked_by = blocking
        entry = StepProgress(step, result)
        if blocking is None and not entry.passed:
            blocking = step
        progress.append(entry)
    current = next((p.step for p in progress if not p.passed), lab.steps[-1])
    return progress, current


def lab_facts(*, view: SandboxView, lab: Lab) -> dict:
    """What exists in the sandbox, as the lab's checks report it (for the diagram); a step
    counts as passed only when the steps before it pass too."""
    facts: dict = {}
    in_order = True
    for step in lab.steps:
        outcome = check_run(view=view, step=step)
        facts |= outcome.facts
        in_order = in_order and outcome.passed
        facts[f"step_{step.number}"] = in_order
    return facts
