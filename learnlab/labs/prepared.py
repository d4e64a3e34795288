"""A lab's prepared state (break-fix labs): the AWS calls its file declares in ``[[setup]]``,
made as the learner's lab user through the gate, so they are recorded in the replay log like the
learner's own calls (a rebuild or a rewind brings back the same ids)."""

import logging

from botocore import xform_name
from botocore.exceptions import BotoCoreError, ClientError

from learnlab.gate.client import aws_client
from learnlab.labs.catalog import Lab
from learnlab.labs.models import StepResult
from learnlab.learners.models import Learner
from learnlab.sandbox.models import Sandbox

log = logging.getLogger(__name__)


class SetupFailed(Exception):
    """A setup call AWS refused: the message names the lab file, the call and AWS's answer."""


def lab_prepare(*, sandbox: Sandbox, lab: Lab) -> int:
    """Make the lab's setup calls in order on ``sandbox``; returns how many were made. Call it
    on a sandbox that holds nothing of the lab yet: when the learner starts the lab, and after a
    reset."""
    # It holds more from now on, even where a busy database leaves a call out of the replay log
    # (the gate's record is best effort): its first view reads it (labs.checks.SandboxView).
    sandbox.just_provisioned = False
    clients = {}
    for number, call in enumerate(lab.setup, 1):
        client = clients.get(call.service)
        if client is None:
            client = clients[call.service] = aws_client(call.service, sandbox=sandbox)
        try:
            getattr(client, xform_name(call.operation))(**call.params)
        except (ClientError, BotoCoreError) as error:
            where = lab.path.name if lab.path else lab.slug
            raise SetupFailed(
                f"{where}, setup call {number} ({call.service} {call.operation}) failed: {error}"
            ) from error
    return len(lab.setup)


def lab_start(*, learner: Learner, sandbox: Sandbox, lab: Lab) -> bool:
    """Set up the lab's prepared state when the learner starts it: a lab with setup calls, a
    learner with no result in it yet, and a sandbox that holds nothing (its replay log is
    empty), so the calls meet nothing of another lab's. Otherwise the learner resets the lab to
    get it (the reset makes the calls). Returns whether it made them."""
    if not lab.setup or sandbox.log_calls or sandbox.calls.exists():
        return False
    if StepResult.objects.filter(learner=learner, lab=lab.slug).exists():
        return False
    try:
        lab_prepare(sandbox=sandbox, lab=lab)
    except SetupFailed as error:  # a page loaded twice at once: the other made them
        log.warning("%s", error)
        return False
    return True
