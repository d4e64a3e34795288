import logging

from botocore.exceptions import BotoCoreError, ClientError
from django.db import transaction
from django.utils import timezone

from learnlab.labs.catalog import Lab, Step
from learnlab.labs.checks import CHECKS, CheckResult, SandboxView
from learnlab.labs.models import StepResult
from learnlab.learners.models import Learner
from learnlab.sandbox import connection
from learnlab.sandbox.models import Sandbox
from learnlab.sandbox.services import sandbox_reset
from learnlab.terminal.services import shell_reset

log = logging.getLogger(__name__)

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


def step_check(*, learner: Learner, sandbox: Sandbox, lab: Lab, step: Step) -> StepResult:
    """Check one step against the sandbox and store the outcome."""
    # The check reads the sandbox first, outside the transaction: on SQLite a transaction holds
    # the database's one write lock, and a check under load takes long enough to starve others.
    outcome = check_run(view=SandboxView(sandbox), step=step)
    now = timezone.now()
    with transaction.atomic():
        result, _ = StepResult.objects.select_for_update().get_or_create(
            learner=learner, lab=lab.slug, step=step.slug, defaults={"checked_at": now}
        )
        result.passed, result.message = outcome.passed, outcome.message
        result.warning = outcome.warning
        result.attempts += 1
        result.checked_at = now
        if outcome.passed and result.passed_at is None:
            result.passed_at = now
        result.save()
    return result


def lab_reset(*, learner: Learner, sandbox: Sandbox, lab: Lab) -> None:
    """Start the lab over: an empty sandbox (same account and keys), no results, a new shell."""
    sandbox_reset(sandbox=sandbox)
    StepResult.objects.filter(learner=learner, lab=lab.slug).delete()
    shell_reset(learner=learner)
