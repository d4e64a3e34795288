"""What an embedded Check tells its host page: the postMessage events it sends."""

from learnlab.labs.catalog import Lab, Step
from learnlab.labs.models import StepResult
from learnlab.labs.selectors import lab_progress
from learnlab.learners.models import Learner

EVENT_SOURCE = "learnlab"  # every event's ``source``, so a host tells ours from others'


def embed_events(*, learner: Learner, lab: Lab, step: Step, result: StepResult) -> list[dict]:
    """``step.passed`` when the checked step passes, then ``lab.completed`` when every step of
    the lab passes with it. Each names the lab and step by slug (and the step's number)."""
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
    progress, _ = lab_progress(learner=learner, lab=lab)
    if all(p.passed for p in progress):
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
