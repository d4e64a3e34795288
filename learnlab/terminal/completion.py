"""Tab completion of ``aws`` command lines by the AWS CLI's own completer (awscli.completer,
what ``aws_completer`` runs), limited to what the terminal runs: nothing after a service it does
not run or an operation it refuses, and among the words offered none that ``aws.screen`` would
refuse."""

import functools
import threading

from botocore import xform_name

from learnlab.gate.allowlist import QUERY_ACTIONS

# The AWS CLI (learnlab.terminal.aws, awscli) is imported by the first completion, not by every
# process that loads the terminal's views (see interpreter.Interpreter._aws).
MAX_LINE = 2048
MAX_COMPLETIONS = 200
_lock = threading.Lock()  # the completer builds its command tables lazily: one at a time


@functools.cache
def _offered_operations(service: str) -> frozenset[str] | None:
    """The CLI names (create-role) of the operations the gate forwards for a query service
    (``gate/allowlist.py``); None where it decides by request (S3)."""
    from learnlab.terminal.aws import SERVICES

    actions = QUERY_ACTIONS.get(SERVICES.get(service, ""))
    return None if actions is None else frozenset(xform_name(a, "-") for a in actions)


def _runs(service: str, operation: str) -> bool:
    """Whether the terminal runs ``aws <service> <operation>``: its screen lets it through and
    the gate forwards the operation (an InvalidAction otherwise)."""
    from learnlab.terminal.aws import screen

    offered = _offered_operations(service)
    return screen([service, operation]) is None and (
        offered is None or operation in offered or operation == "help" or operation == "wait"
    )


@functools.cache
def _completer():
    from awscli.completer import Completer

    from learnlab.terminal.aws import offline_driver

    return Completer(driver=offline_driver())


def _top_level() -> tuple[str, ...]:
    from learnlab.terminal.aws import SERVICES

    return (*SERVICES, "s3", "configure", "help")


def aws_completions(line: str) -> list[str]:
    """What may follow the last word of ``line`` (text up to the caret), as the CLI's
    completer says; [] when the line is not an aws command, or names a service or an
    operation the terminal does not run."""
    from learnlab.terminal.aws import REFUSED_OPTIONS, command_words

    top_level = _top_level()
    line = line[:MAX_LINE]
    words = line.split()
    if not words or words[0] != "aws" or (line.strip() == "aws" and not line.endswith(" ")):
        return []
    typed = words[1:] if line.endswith(" ") else words[1:-1]  # the words before the caret's
    before = command_words(typed)
    if before and (before[0] not in top_level or (len(before) > 1 and not _runs(*before[:2]))):
        return []  # "not available in this lab": nothing of it to offer
    with _lock:
        found = _completer().complete(line) or []
    if len(before) == 0:
        commands = [word for word in found if word in top_level]
    elif len(before) == 1 and before[0] != "help":
        commands = [word for word in found if _runs(before[0], word)]
    else:
        commands = [word for word in found if not word.startswith("-")]
    options = [word for word in found if word.startswith("-") and word not in REFUSED_OPTIONS]
    return sorted(set(commands + options))[:MAX_COMPLETIONS]
