"""A lab's prepared state (break-fix labs): the AWS calls its file declares in ``[[setup]]``,
made as the learner's lab user through the gate, so they are recorded in the replay log like the
learner's own calls (a rebuild or a rewind brings back the same ids)."""

from botocore import xform_name
from botocore.exceptions import BotoCoreError, ClientError

from learnlab.gate.client import aws_client
from learnlab.labs.catalog import Lab
from learnlab.sandbox.models import Sandbox


class SetupFailed(Exception):
    """A setup call AWS refused: the message names the lab file, the call and AWS's answer."""


def lab_prepare(*, sandbox: Sandbox, lab: Lab) -> int:
    """Make the lab's setup calls in order on ``sandbox``; returns how many were made. Call it
    on a sandbox that holds nothing of the lab yet: when the learner starts the lab, and after a
    reset."""
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
