"""AWS errors met in the in-page terminal feed practice and the class's common mistakes, as
console-form errors do (``console._feeds_practice``).

The terminal sits beside quiz in the layers, so it cannot record them itself: it sends
``terminal.signals.aws_error`` and this receiver (connected in ``LabsConfig.ready``) records a
``LabMistake`` with source ``terminal`` for the step that teaches the command: in each lab, the
first step whose runnable solution runs ``aws <service> <operation>``.
"""

import re

from django.dispatch import receiver

from learnlab.labs.catalog import labs_all
from learnlab.quiz.services import lab_mistake_record
from learnlab.terminal.signals import aws_error

TERMINAL = "terminal"  # LabMistake.source of an AWS error in the terminal
_COMMAND = re.compile(r"\baws\s+([a-z0-9]+)\s+([a-z0-9-]+)")
# (catalogue, what _teaching_steps found in it): the last catalogue read, held so that its
# identity cannot be reused. Kept on the catalogue's identity, not for the process: the
# catalogue is read again when LAB_DIR changes (a test's or an author's content folder, ``lab
# selftest`` over another folder) or, with DEBUG on, when a file changes; steps found in another
# catalogue would put this one's mistakes on the wrong lab, or on none.
_found: tuple[dict, dict] | None = None


def _teaching_steps() -> dict[tuple[str, str], list[tuple[str, object]]]:
    """(service, operation) -> [(lab slug, step)], the first step of each lab that runs it, in
    the catalogue ``labs_all`` serves now."""
    global _found
    labs = labs_all()
    held = _found
    if held is not None and held[0] is labs:
        return held[1]
    found: dict = {}
    for lab in labs.values():
        seen = set()
        for step in lab.steps:
            for entries in step.runs.values():
                for entry in entries or ():
                    for command in _COMMAND.findall(entry.line):
                        if command not in seen:
                            seen.add(command)
                            found.setdefault(command, []).append((lab.slug, step))
    _found = (labs, found)
    return found


@receiver(aws_error, dispatch_uid="labs-terminal-mistakes")
def terminal_aws_error(sender, *, sandbox, service, operation, code, error, **kwargs):
    if not (service and operation) or sandbox is None:
        return
    for lab_slug, step in _teaching_steps().get((service, operation), ()):
        lab_mistake_record(
            learner=sandbox.learner,
            lab=lab_slug,
            step=step.number,
            points=step.points,
            source=TERMINAL,
            reason=code,
            message=error,
        )
