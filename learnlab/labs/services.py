import logging

from botocore.exceptions import BotoCoreError, ClientError
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.dispatch import Signal
from django.utils import timezone

from learnlab.labs.catalog import Lab, Step
from learnlab.labs.checks import CHECKS, CheckResult, SandboxView
from learnlab.labs.models import StepResult
from learnlab.learners.models import Learner
from learnlab.live.services import topic_changed
from learnlab.quiz.services import lab_mistake_record
from learnlab.sandbox import connection
from learnlab.sandbox.models import Sandbox
from learnlab.sandbox.services import sandbox_reset
from learnlab.terminal.services import shell_reset

log = logging.getLogger(__name__)

# Sent after a Check's results are stored (kwargs: learner, lab, step, result, outcomes: the
# steps checked with their outcomes). Apps above labs listen (embedding, LTI grades, xAPI):
# receivers must return at once, queueing anything slow on the task cluster.
step_checked = Signal()

CHECK_UNAVAILABLE = (
    "The check could not read your sandbox: the sandbox server did not answer. It restarts by "
    "itself within a few seconds; try Check again shortly."
)


def check_run(*, view: SandboxView, step: Step) -> CheckResult:
    """Run a step's check. A sandbox server that is down raises SandboxServerUnavailable (the
    caller says so, and no result is stored: an outage must not un-pass a step); any other
    failure to read is a failed check that says what went wrong."""
    try:
        return CHECKS[step.check](view)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("ServiceUnavailable", "InternalFailure"):
            raise connection.SandboxServerUnavailable(str(error)) from error  # the gate's word
        log.warning("check %s could not read the sandbox: %s", step.check, error)
        return CheckResult(False, f"The check could not read your sandbox ({error}). Try again.")
    except BotoCoreError as error:
        log.warning("check %s could not read the sandbox: %s", step.check, error)
        return CheckResult(False, f"The check could not read your sandbox ({error}). Try again.")


def steps_check(*, view: SandboxView, lab: Lab, step: Step) -> list[tuple[Step, CheckResult]]:
    """Steps are checked in order: the steps before ``step`` first, on the same reads of the
    sandbox. The first that does not pass now stops there and ``step`` gets a result naming it
    ("First finish step 2 ..."), so a later step never passes while an earlier one does not.
    Returns each step checked with its outcome, ``step`` last."""
    outcomes = []
    for earlier in lab.steps[: step.number - 1]:
        outcome = check_run(view=view, step=earlier)
        outcomes.append((earlier, outcome))
        if not outcome.passed:
            first = CheckResult(
                False,
                f"First finish step {earlier.number} ({earlier.title}): {outcome.message}",
                facts=outcome.facts,
            )
            return [*outcomes, (step, first)]
    return [*outcomes, (step, check_run(view=view, step=step))]


def _later_cannot_count(failed: Step) -> str:
    return (
        f"Step {failed.number} ({failed.title}) does not pass now, so this step cannot count "
        f"yet: finish step {failed.number}, then check this step again."
    )


def step_check(*, learner: Learner, sandbox: Sandbox, lab: Lab, step: Step) -> StepResult:
    """Check one step, and the steps before it again (``steps_check``), and store every outcome.
    When a step does not pass, later steps stored as passed stop counting, their result saying
    which step to finish: stored progress never shows a step passed after one that is not.

    The result's ``refreshed`` lists the other steps' results this changed, for the page."""
    # A change made while the checks read counts as newer than the check: it makes it stale.
    started = timezone.now()
    # The checks read the sandbox first, outside the transaction: on SQLite a transaction holds
    # the database's one write lock, and a check under load takes long enough to starve others.
    outcomes = steps_check(view=SandboxView(sandbox), lab=lab, step=step)
    failed = next((s for s, outcome in outcomes if not outcome.passed), None)
    later = [s.slug for s in lab.steps[failed.number :]] if failed else []
    checked_slugs = [s.slug for s, _ in outcomes]
    ours = StepResult.objects.filter(learner=learner, lab=lab.slug)
    unpassing = ours.filter(step__in=later, passed=True).exclude(step__in=checked_slugs)
    # On SQLite this transaction holds the database's one write lock: a few statements, each
    # a whole step's result (a statement a field stretched it under load).
    with transaction.atomic():
        unpassed_slugs = list(unpassing.values_list("step", flat=True))  # for the page
        StepResult.objects.bulk_create(
            [StepResult(learner=learner, lab=lab.slug, step=slug, checked_at=started)
             for slug in checked_slugs],
            ignore_conflicts=True,
        )  # fmt: skip
        for checked, outcome in outcomes:
            ours.filter(step=checked.slug).update(
                passed=outcome.passed,
                message=outcome.message,
                warning=outcome.warning,
                attempts=F("attempts") + (1 if checked == step else 0),
                checked_at=started,
                **({"passed_at": Coalesce("passed_at", Value(started))} if outcome.passed else {}),
            )
        if failed:  # a later step stored as passed stops counting, whoever stored it
            unpassing.update(passed=False, message=_later_cannot_count(failed), warning="")
        # Read in the transaction: a reset or another Check committed after it changes nothing.
        stored = {r.step: r for r in ours.filter(step__in=checked_slugs + unpassed_slugs)}
    topic_changed(f"learner:{learner.pk}")  # the class board (live.services.topic_fanout)
    if failed:  # the mistake makes the quiz items on that step's exam points due
        lab_mistake_record(
            learner=learner,
            lab=lab.slug,
            step=failed.number,
            points=failed.points,
            source="check",
            reason="check",
            message=next(outcome.message for s, outcome in outcomes if s == failed),
        )
    result = stored.pop(step.slug)  # the rest: the other results this Check changed
    result.refreshed = [(s, stored[s.slug]) for s in lab.steps if s.slug in stored]
    # A listener's failure is logged, never the learner's: the Check's result stands.
    for receiver, error in step_checked.send_robust(
        sender=StepResult, learner=learner, lab=lab, step=step, result=result, outcomes=outcomes
    ):
        if isinstance(error, Exception):
            log.error("step_checked receiver %r failed: %r", receiver, error)
    return result


def lab_reset(*, learner: Learner, sandbox: Sandbox, lab: Lab) -> None:
    """Start the lab over: an empty sandbox (same account and keys), no results, a new shell."""
    sandbox_reset(sandbox=sandbox)
    StepResult.objects.filter(learner=learner, lab=lab.slug).delete()
    topic_changed(f"learner:{learner.pk}")
    shell_reset(learner=learner)
