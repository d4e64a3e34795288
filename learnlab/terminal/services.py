"""The in-page terminal: run a line, switch hosts, clear, reset.

A shell runs one line at a time (per web process): a second line posted while one runs (another
tab, a double submit) is refused at once instead of waiting, so one learner's terminal holds at
most one web worker, and two lines never overwrite each other's scrollback and variables.
"""

import contextlib
import copy
import logging
import re
import threading
from dataclasses import dataclass, field

from django.db import transaction

from learnlab.learners.models import Learner
from learnlab.sandbox.models import Sandbox
from learnlab.terminal import home
from learnlab.terminal.interpreter import Host, Interpreter, Outcome, ShellState
from learnlab.terminal.models import HomeFile, Shell
from learnlab.terminal.selectors import shell_prompt

log = logging.getLogger(__name__)

MAX_LINE = 8 * 1024
MAX_PENDING = home.FILE_BYTES + 8 * 1024  # a here-document being typed, all its lines
PASTED_PROMPT = re.compile(r"^[ \t]*\$ ")  # "$ aws ..." copied from a page with its prompt
SCROLLBACK_CHARACTERS = 64 * 1024
SCROLLBACK_ENTRY = 16 * 1024
SCROLLBACK_ENTRIES = 200
ECHO_LIMIT = 2000
# Terminal control sequences and C0 controls other than tab and newline: never in the page.
CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f\x7f]")
FAILED = "The command failed inside LearnLab. Try again; if it persists, reset the lab."
BUSY = (
    "bash: another command line is still running in this terminal (in another tab?). Wait "
    "for it to finish, then run this one again."
)
_running: set[int] = set()  # shells running a line now
_running_lock = threading.Lock()


@dataclass
class ShellResult:
    """One line's run: its log entry (prompt, command and output, as shown) and the prompt to
    show next. ``clear``: the log starts over with this entry; ``changed``: the sandbox may have
    changed (an AWS call other than a read succeeded)."""

    output: str
    exit_status: int
    prompt: str
    entry: dict = field(default_factory=dict)
    clear: bool = False
    changed: bool = False


def base_environment(sandbox: Sandbox, host: Host) -> dict:
    """What a new shell on ``host`` has exported: on the workstation the lab keys and region
    (as the sandbox page has learners export them), on an instance only the region."""
    if host.instance_id:
        return {"AWS_DEFAULT_REGION": sandbox.region}
    key = sandbox.lab_key()
    return {
        "AWS_ACCESS_KEY_ID": key.access_key_id,
        "AWS_SECRET_ACCESS_KEY": key.secret_access_key,
        "AWS_DEFAULT_REGION": sandbox.region,
    }


def shell_open(*, sandbox: Sandbox) -> Shell:
    """The sandbox's shell, created (on the workstation) on first use."""
    shell, _ = Shell.objects.get_or_create(sandbox=sandbox)
    return shell


class DatabaseHome(home.Home):
    """The shell's homes in the database (``HomeFile`` rows)."""

    def __init__(self, shell: Shell):
        self.shell = shell

    def _rows(self, host: str):
        return HomeFile.objects.filter(shell=self.shell, host=host)

    def get(self, host, name):
        row = self._rows(host).filter(name=name).first()
        return None if row is None else home.HomeFile(row.name, row.content, row.updated_at)

    def names(self, host):
        return [
            home.HomeFile(row.name, row.content, row.updated_at)
            for row in self._rows(host).order_by("name")
        ]

    def count(self):
        return HomeFile.objects.filter(shell=self.shell).count()

    def write(self, host, name, content, *, append=False):
        """Count and store in one transaction with the shell's row locked: saves that arrive
        together (editor tabs, a script reusing the cookie, the terminal's ``>``) are counted
        one after another, so none passes a quota another is about to fill."""
        with transaction.atomic():
            list(Shell.objects.select_for_update().filter(pk=self.shell.pk).values_list("pk"))
            super().write(host, name, content, append=append)

    def _store(self, host, name, content):
        HomeFile.objects.update_or_create(
            shell=self.shell, host=host, name=name, defaults={"content": content}
        )

    def _delete(self, host, name):
        return self._rows(host).filter(name=name).delete()[0] > 0


def home_file_save(*, shell: Shell, host: str, name: str, content: str) -> str:
    """Save a file from the in-page editor; its resolved name. Raises ``home.HomeError``."""
    content = content.replace("\r\n", "\n").replace("\r", "\n")
    user = "ec2-user" if host != home.WORKSTATION else "learner"
    resolved = home.resolve(name, user=user)
    DatabaseHome(shell).write(host, resolved, content)
    return resolved


def home_file_delete(*, shell: Shell, host: str, name: str) -> None:
    DatabaseHome(shell).remove(host, name)


def _strip_pasted_prompt(line: str) -> str:
    """A leading ``$ `` copied with a command is dropped: from the first line, or from every
    line when each line of a paste has one."""
    lines = line.split("\n")
    if all(PASTED_PROMPT.match(text) for text in lines if text.strip()):
        return "\n".join(PASTED_PROMPT.sub("", text) for text in lines)
    return PASTED_PROMPT.sub("", line, count=1)


def shell_run(*, shell: Shell, line: str) -> ShellResult:
    """Run one command line (it may span lines) in the shell. Never raises: whatever goes wrong
    becomes a line in the output. A line that opens a here-document and does not end it is kept
    (``Shell.pending``) until a later line brings the delimiter, as bash's ``> `` prompt does."""
    line = line.replace("\r\n", "\n").replace("\r", "\n")
    prompt = shell_prompt(shell=shell)
    pending = shell.pending
    if not pending:
        line = _strip_pasted_prompt(line)
    source = f"{pending}\n{line}" if pending else line
    if len(line) > MAX_LINE:
        outcome = Outcome(
            f"bash: command line too long: {len(line)} characters (this lab takes "
            f"{MAX_LINE // 1024} KB at most).\n",
            2,
        )
    elif len(source) > MAX_PENDING:
        outcome = Outcome(
            f"bash: here-document too long: more than {MAX_PENDING // 1024} KB; nothing ran. "
            f"A file holds {home.FILE_BYTES // 1024} KiB at most.\n",
            2,
        )
    elif not source.strip():
        outcome = Outcome("", shell.last_status)
    else:
        with _one_line_at_a_time(shell) as free:
            if not free:
                return _busy(prompt=prompt, line=line)
            outcome = _interpret(shell, source)
    shell.pending = source if outcome.incomplete else ""
    return _record(shell, prompt=prompt, line=line, outcome=outcome)


@contextlib.contextmanager
def _one_line_at_a_time(shell: Shell):
    with _running_lock:
        free = shell.pk not in _running
        _running.add(shell.pk)
    try:
        yield free
    finally:
        if free:
            with _running_lock:
                _running.discard(shell.pk)


def _busy(*, prompt: str, line: str) -> ShellResult:
    """The refusal of a second line, shown but not kept: the running line's record wins."""
    entry = {
        "prompt": prompt,
        "command": CONTROL.sub("", line[:ECHO_LIMIT]).replace("\n", "\n> "),
        "output": BUSY + "\n",
        "status": 1,
        "cleared": False,
    }
    return ShellResult(output=BUSY + "\n", exit_status=1, prompt=prompt, entry=entry)


def shell_clear(*, shell: Shell) -> None:
    """Empty the scrollback (what ``clear`` and the Clear button do); a here-document being
    typed is dropped too."""
    shell.scrollback = []
    shell.pending = ""
    shell.save(update_fields=["scrollback", "pending", "updated_at"])


def shell_reset(*, learner: Learner) -> None:
    """A new terminal for the learner: workstation, no variables, empty scrollback."""
    Shell.objects.filter(sandbox__learner=learner).delete()


def _interpret(shell: Shell, line: str) -> Outcome:
    state = ShellState(
        host=Host(shell.instance_id, shell.host_name or shell.instance_id)
        if shell.instance_id
        else Host(),
        environments=copy.deepcopy(shell.environments),
        last_status=shell.last_status,
    )
    try:
        outcome = Interpreter(
            sandbox=shell.sandbox,
            state=state,
            base_environment=base_environment,
            home_files=DatabaseHome(shell),
        ).run(line)
    except Exception:
        log.exception("terminal line failed")
        return Outcome(FAILED + "\n", 1)
    shell.instance_id, shell.host_name = state.host.instance_id, state.host.name
    if not state.host.instance_id:
        shell.host_name = ""
    shell.environments = state.environments
    return outcome


def _record(shell: Shell, *, prompt: str, line: str, outcome: Outcome) -> ShellResult:
    output = CONTROL.sub("", outcome.output)
    if output and not output.endswith("\n"):
        output += "\n"  # the next prompt starts a line, as a terminal shows it
    command = line if len(line) <= ECHO_LIMIT else line[:ECHO_LIMIT] + "…"
    entry = {
        "prompt": prompt,
        "command": CONTROL.sub("", command).replace("\n", "\n> "),
        "output": output,
        "status": outcome.status,
        "cleared": outcome.clear,
    }
    stored = dict(entry)
    if len(output) > SCROLLBACK_ENTRY:
        stored["output"] = output[:SCROLLBACK_ENTRY] + "\n[… not kept in the scrollback]\n"
    scrollback = [] if outcome.clear else list(shell.scrollback)
    scrollback.append(stored)
    while len(scrollback) > 1 and (
        len(scrollback) > SCROLLBACK_ENTRIES
        or sum(len(e["output"]) + len(e["command"]) for e in scrollback) > SCROLLBACK_CHARACTERS
    ):
        scrollback.pop(0)
    shell.scrollback = scrollback
    if not outcome.incomplete:
        shell.last_status = min(max(outcome.status, 0), 255)
    shell.save()
    return ShellResult(
        output=output,
        exit_status=outcome.status,
        prompt=shell_prompt(shell=shell),
        entry=entry,
        clear=outcome.clear,
        changed=outcome.changed,
    )
