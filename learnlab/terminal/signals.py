"""What the in-page terminal tells the layers above it, which it cannot import.

``aws_error``: AWS refused a command the learner ran (``aws ...`` exited non-zero with the CLI's
``An error occurred (Code) when calling the Operation operation: ...`` line). Sent with
``sandbox`` (the learner's), ``command`` (the CLI's words after ``aws``), ``service`` and
``operation`` (read past the CLI's global options, as the terminal reads them), ``code`` (the
AWS error code) and ``error`` (that line, as the CLI printed it). Receivers must not raise:
the terminal sends it with ``send_robust`` and logs what they raise, and the learner's line is
unaffected.
"""

import logging
import re

from django.dispatch import Signal

log = logging.getLogger(__name__)

aws_error = Signal()

ERROR_LINE = re.compile(r"^An error occurred \(([^)]+)\) when calling the \w+ operation.*$", re.M)


def aws_error_send(*, sender, sandbox, command: list[str], stderr: str) -> None:
    """Send ``aws_error`` when the CLI's error output holds an AWS error (not a usage error or a
    refusal by the terminal itself)."""
    found = list(ERROR_LINE.finditer(stderr))
    if not found:
        return
    from learnlab.terminal.aws import command_words  # loaded already: the CLI just ran

    line = found[-1]
    words = command_words(list(command))
    service, operation = [*words, "", ""][:2]
    for receiver, result in aws_error.send_robust(
        sender=sender,
        sandbox=sandbox,
        command=list(command),
        service=service,
        operation=operation,
        code=line[1],
        error=line[0],
    ):
        if isinstance(result, Exception):
            log.error("an aws_error receiver (%r) failed", receiver, exc_info=result)
