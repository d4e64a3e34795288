"""What an embedded Check tells its host page: the postMessage events it sends."""

from learnlab.labs.catalog import Lab, Step
from learnlab.labs.models import StepResult
from learnlab.labs.selectors import lab_progress
from learnlab.learners.models import Learner

EVENT_SOURCE = "learnlab"  # every event's ``source``, so a host tells ours from others'


def lab_complete(*, learner: Learner, lab: Lab) -> bool:
    progress, _ = lab_progress(learner=learner, lab=lab)
    return all(p.passed for p in progress)


def embed_events(
    *, learner: Learner, lab: Lab, step: Step, result: StepResult, was_complete: bool = False
) -> list[dict]:
    """``step.passed`` when the checked step passes, then ``lab.completed`` when this Check
    completes the lab: every step passes now and did not all pass before it (``was_complete``,
    read before the Check), so checking a finished lab again does not complete it again. Each
    names the lab and step by slug (and the step's number)."""
    if not result.passed:
        return []
    events = [
        {
            "source": EVENT_SOURCE,
            "type": "step.passed",
            "lab": lab.slug,
            "step": step.slug,
            "stepNumber": step.number,
        }
    ]
    if not was_complete and lab_complete(learner=learner, lab=lab):
        events.append(
            {
                "source": EVENT_SOURCE,
                "type": "lab.completed",
                "lab": lab.slug,
                "step": step.slug,
                "steps": len(lab.steps),
            }
        )
    return events
