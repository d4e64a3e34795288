"""Tab completion of ``aws`` command lines by the AWS CLI's own completer (awscli.completer,
what ``aws_completer`` runs), limited to what the terminal runs."""

import functools
import threading

from awscli.completer import Completer

from learnlab.terminal.aws import REFUSED_OPTIONS, S3_COMMANDS, SERVICES, offline_driver

MAX_LINE = 2048
MAX_COMPLETIONS = 200
TOP_LEVEL = (*SERVICES, "s3", "configure", "help")
SUBCOMMANDS = {"s3": S3_COMMANDS, "configure": ("list",)}
_lock = threading.Lock()  # the completer builds its command tables lazily: one at a time


@functools.cache
def _completer() -> Completer:
    return Completer(driver=offline_driver())


def aws_completions(line: str) -> list[str]:
    """What may follow the last word of ``line`` (text up to the caret), as the CLI's
    completer says; [] when the line is not an aws command."""
    line = line[:MAX_LINE]
    words = line.split()
    if not words or words[0] != "aws" or (line.strip() == "aws" and not line.endswith(" ")):
        return []
    with _lock:
        found = _completer().complete(line) or []
    positionals = [word for word in words[1:] if not word.startswith("-")]
    completing_command = not line.endswith(" ") and len(positionals) <= 1
    if (line.endswith(" ") and not positionals) or (completing_command and len(positionals) == 1):
        found = [word for word in found if word.startswith("-") or word in TOP_LEVEL]
    service = positionals[0] if positionals else None
    if service in SUBCOMMANDS and (
        (len(positionals) == 1 and line.endswith(" ")) or len(positionals) == 2
    ):
        found = [word for word in found if word.startswith("-") or word in SUBCOMMANDS[service]]
    found = [word for word in found if word not in REFUSED_OPTIONS]
    return sorted(set(found))[:MAX_COMPLETIONS]
