from dataclasses import dataclass

from learnlab.labs.catalog import Lab, Step
from learnlab.labs.checks import SandboxView
from learnlab.labs.models import StepResult
from learnlab.labs.services import check_run
from learnlab.learners.models import Learner


@dataclass
class StepProgress:
    step: Step
    result: StepResult | None

    @property
    def passed(self) -> bool:
        return bool(self.result and self.result.passed)


def lab_progress(*, learner: Learner | None, lab: Lab) -> tuple[list[StepProgress], Step]:
    """Each step with its stored result, and the step to resume at: the first not passed."""
    results = {}
    if learner is not None:
        results = {r.step: r for r in StepResult.objects.filter(learner=learner, lab=lab.slug)}
    progress = [StepProgress(step, results.get(step.slug)) for step in lab.steps]
    current = next((p.step for p in progress if not p.passed), lab.steps[-1])
    return progress, current


def lab_facts(*, view: SandboxView, lab: Lab) -> dict:
    """What exists in the sandbox, as the lab's checks report it (for the diagram)."""
    facts: dict = {}
    for step in lab.steps:
        outcome = check_run(view=view, step=step)
        facts |= outcome.facts
        facts[f"step_{step.number}"] = outcome.passed
    return facts
