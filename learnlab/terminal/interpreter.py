"""Runs a parsed command line: expansions, ``&&``/``||``/``;``, pipes into a JSON pretty-printer,
redirections into the host's virtual home (``home.py``), the builtins (``cat``, ``ls``, ``rm`` and
friends among them), and the two programs (``aws``, ``curl``). Anything else is "not available".

Pure of Django models: the caller hands in the sandbox and the shell's state and stores what comes
back. The simulated host decides the environment: on the workstation the lab keys are exported
(as the sandbox page tells learners to do in their own terminal), on an instance only a region.
"""

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils import timezone

from learnlab.denials.selectors import explain_lines
from learnlab.imds.services import InstanceNotFound, instance_facts
from learnlab.sandbox import connection
from learnlab.sandbox.models import Sandbox
from learnlab.terminal import home, parser
from learnlab.terminal.curl import run_curl
from learnlab.terminal.instance import host_name
from learnlab.terminal.signals import aws_error_send

log = logging.getLogger(__name__)

OUTPUT_LIMIT = 256 * 1024
MAX_COMMANDS = 64  # simple commands run for one line, substitutions included
LINE_SECONDS = 20  # a line holds a web worker: it stops after this, mid-command if need be
MAX_VARIABLES = 100
MAX_VALUE = 16 * 1024
ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=")
FIELD_SEPARATORS = re.compile(r"[ \t\n]+")
NOT_AVAILABLE = (
    "{name}: command not available in this lab. This terminal runs aws, curl (on an instance), "
    "cat, ls, rm and a few shell builtins: type help to see them."
)
EDITORS = ("nano", "vi", "vim", "emacs", "edit", "code", "pico")
NO_EDITOR = (
    "{name}: no full-screen editor in this terminal. Edit files in the page (Files, above the "
    "terminal), or write one with a here-document:\n  cat > trust.json <<'EOF'\n  ...\n  EOF"
)
PRINTER_ONLY = (
    "{name}: not available in this lab except as a JSON pretty-printer after a pipe, e.g. "
    "aws iam list-roles | {usage}"
)
SPECIAL_VALUES = {"$": "4242", "#": "0", "0": "-bash", "-": "himBH", "!": "", "@": "", "*": ""}
JQ_FLAGS = {
    "-r", "--raw-output", "-c", "--compact-output", "-S", "--sort-keys", "-M",
    "--monochrome-output", "-C", "--color-output",
}  # fmt: skip
HELP = """\
This terminal is not a real shell: it runs these commands, in bash's syntax.

  aws iam|ec2|sts|s3api ...   the AWS CLI (v1) in your sandbox account; file://NAME and
                               fileb://NAME read files in your home directory
  aws s3 ls|mb|rb              the s3 commands that need no local files
  aws configure list           where the CLI found its credentials
  curl [-s] [-X PUT] [-H "Name: value"] [-w FORMAT] [-i] URL
                               on an instance: its metadata service, 169.254.169.254
  connect INSTANCE-ID          open a shell on one of your running instances
  exit                         leave the instance, back to your workstation
  echo, export, unset, NAME=value, $NAME, ${NAME}, $(...), `...`, &&, ||, ;
  COMMAND | jq .               pretty-print JSON (also | python3 -m json.tool)
  cat, ls [-l], rm, touch, cp, mv   files in your home directory
  COMMAND > FILE, >> FILE, < FILE, cat > FILE <<'EOF' ... EOF   (a here-document)
  clear, help

Each host (your workstation, each instance) has a small home directory of its own: no folders,
{file_kib} KiB a file, {per_host} files a host. Files, above the terminal, edits them in the page.
Up and Down recall earlier commands; Tab completes aws commands and options. Shift+Enter, or a
line ending in \\, continues a command.
"""
HELP = HELP.replace("{file_kib}", str(home.FILE_BYTES // 1024))
HELP = HELP.replace("{per_host}", str(home.FILES_PER_HOST))


@dataclass
class Host:
    """Where the shell runs: the learner's workstation, or a lab instance."""

    instance_id: str = ""
    name: str = "workstation"

    @property
    def kind(self) -> str:
        return "instance" if self.instance_id else "workstation"

    @property
    def user(self) -> str:
        return "ec2-user" if self.instance_id else "learner"


@dataclass
class ShellState:
    """What survives between lines. ``environments`` holds, per host kind, the variables that
    differ from the host's own (None: unset) and the exported names."""

    host: Host = field(default_factory=Host)
    environments: dict = field(default_factory=dict)
    last_status: int = 0


@dataclass
class Outcome:
    """``changed``: an AWS call that may have changed the sandbox succeeded."""

    output: str
    status: int
    clear: bool = False
    changed: bool = False
    incomplete: bool = False  # a here-document is still open: the terminal asks for more lines


class _Abort(Exception):
    """Stop the whole line with this message (a limit was reached)."""


class _Exit(Exception):
    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


class _Sink:
    def __init__(self, limit: int = OUTPUT_LIMIT):
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit
        self.truncated = False

    def write(self, text: str) -> None:
        if not text or self.truncated:
            return
        room = self.limit - self.size
        if len(text) > room:
            text, self.truncated = text[:room], True
        self.parts.append(text)
        self.size += len(text)

    def text(self) -> str:
        return "".join(self.parts)


@dataclass
class ProgramIO:
    out: Callable[[str], None]
    err: Callable[[str], None]
    tty: bool
    stdin: str | None = None


class Interpreter:
    def __init__(
        self,
        *,
        sandbox: Sandbox,
        state: ShellState,
        base_environment: Callable[[Sandbox, Host], dict],
        home_files: home.Home | None = None,
    ):
        self.sandbox = sandbox
        self.state = state
        self.home = home_files if home_files is not None else home.MemoryHome()
        self._base_environment = base_environment
        self._bases: dict[str, dict] = {}
        self._display = _Sink()
        self._commands = 0
        self._depth = 0
        self._clear = False
        self._substitution_status = 0
        self._changed = False
        self._started = time.monotonic()

    # The line

    def run(self, line: str) -> Outcome:
        status = 0
        self._started = time.monotonic()
        try:
            script = parser.parse(line)
        except parser.Incomplete:
            return Outcome("", self.state.last_status, incomplete=True)
        except parser.ParseError as error:
            self._display.write(f"bash: {error}\n")
            self.state.last_status = 2
            return Outcome(self._display.text(), 2)
        try:
            if self.state.host.instance_id and script.steps and not self._host_alive():
                return Outcome(self._display.text(), 255)
            status = self._run_script(script, self._display.write, tty=True)
        except _Abort as error:
            self._display.write(f"bash: {error}\n")
            status = 1
        except _Exit as exit_:
            status = exit_.status
        except connection.SANDBOX_ERRORS:
            log.warning("sandbox server unavailable in the terminal", exc_info=True)
            self._display.write(connection.RECONNECTING + "\n")
            status = 1
        self.state.last_status = status
        output = self._display.text()
        if self._display.truncated:
            output += "\n[output truncated: more than 256 KB]\n"
        return Outcome(output, status, self._clear, self._changed)

    def _host_alive(self) -> bool:
        """A shell on an instance ends when the instance stops or goes away."""
        host = self.state.host
        try:
            facts = instance_facts(sandbox=self.sandbox, instance_id=host.instance_id)
            alive = facts["state"] == "running"
        except InstanceNotFound:
            alive = False
        if not alive:
            self._display.write(f"Connection to {host.name} closed by remote host.\n")
            self._leave_instance()
        return alive

    def _run_script(self, script: parser.Script, write: Callable[[str], None], tty: bool) -> int:
        status = self.state.last_status
        then = ";"
        for step in script.steps:
            if (then == "&&" and status != 0) or (then == "||" and status == 0):
                then = step.then
                continue
            status = self._run_pipeline(step.pipeline, write, tty)
            self.state.last_status = status
            then = step.then
        return status

    def _run_pipeline(self, pipeline: parser.Pipeline, write, tty: bool) -> int:
        commands = pipeline.commands
        if len(commands) == 1:
            return self._run_command(commands[0], ProgramIO(write, self._display.write, tty))
        printers = [self._expand_words(command.words) for command in commands[1:]]
        for argv in printers:
            refusal = _printer_refusal(argv)
            if refusal:
                self._display.write(refusal + "\n")
                return 1
        for command in commands[1:]:
            if any(r.operator in ("<", "<<") for r in command.redirects) or (
                command is not commands[-1] and command.redirects
            ):
                self._display.write(
                    "bash: in a pipe, only the last command's output may go to a file "
                    "(aws ... | jq . > out.json)\n"
                )
                return 1
        if commands[-1].redirects:
            try:
                target = self._output_target(commands[-1].redirects)
            except home.HomeError as error:
                self._display.write(f"bash: {error}\n")
                return 1
            if target is not None:
                captured_file = _Sink()
                status = self._run_pipeline(
                    parser.Pipeline([*commands[:-1], parser.Command(commands[-1].words)]),
                    captured_file.write,
                    False,
                )
                return self._write_target(target, captured_file.text(), status)
        captured = _Sink()
        self._run_command(commands[0], ProgramIO(captured.write, self._display.write, False))
        text, status = captured.text(), 0
        for index, argv in enumerate(printers):
            last = index == len(printers) - 1
            piped = _Sink()
            status = _pretty_print(argv, text, piped.write, self._display.write)
            text = piped.text()
            if last:
                write(text)
        return status

    # Commands

    def _run_command(self, command: parser.Command, io: ProgramIO) -> int:
        self._commands += 1
        if self._commands > MAX_COMMANDS:
            raise _Abort(f"too many commands in one line (this lab allows {MAX_COMMANDS}).")
        self._check_deadline()
        if not command.redirects:
            return self._run_simple(command.words, io)
        stdin = io.stdin
        try:
            for redirect in command.redirects:
                if redirect.operator == "<<":
                    stdin = self._expand_joined(redirect.body)
                elif redirect.operator == "<":
                    name = self._target_name(redirect.target)
                    stdin = self.home.read(self._home_key(), name)
            target = self._output_target(command.redirects)
        except home.HomeError as error:
            io.err(f"bash: {error}\n")
            return 1
        if target is None:
            return self._run_simple(command.words, ProgramIO(io.out, io.err, io.tty, stdin))
        captured = _Sink()
        status = self._run_simple(command.words, ProgramIO(captured.write, io.err, False, stdin))
        return self._write_target(target, captured.text(), status, io.err)

    # Files

    def _home_key(self) -> str:
        return home.host_key(self.state.host.instance_id)

    def _resolve(self, path: str) -> str:
        return home.resolve(path, user=self.state.host.user)

    def _target_name(self, word: parser.Word) -> str:
        fields = self._expand(word)
        shown = "".join(p.text if isinstance(p, parser.Literal) else "$…" for p in word)
        if len(fields) != 1:
            raise home.HomeError(f"{shown}: ambiguous redirect")
        try:
            return self._resolve(fields[0])
        except home.HomeError as error:
            raise home.HomeError(f"{fields[0]}: {error}") from None

    def _output_target(self, redirects) -> tuple[str, bool] | None:
        """The file the output goes to (the last ``>``/``>>`` wins, as in bash) and whether it
        is appended to; None for the terminal."""
        target = None
        for redirect in redirects:
            if redirect.operator in (">", ">>"):
                target = (self._target_name(redirect.target), redirect.operator == ">>")
        return target

    def _write_target(self, target, text: str, status: int, err=None) -> int:
        name, append = target
        try:
            self.home.write(self._home_key(), name, text, append=append)
        except home.HomeError as error:
            (err or self._display.write)(f"bash: {name}: {error}\n")
            return 1
        return status

    def _run_simple(self, words, io: ProgramIO) -> int:
        assignments = []
        while words and _assignment(words[0]):
            assignments.append(_assignment(words[0]))
            words = words[1:]
        self._substitution_status = 0
        if not words:
            for name, value_word in assignments:
                self._set(name, self._expand_joined(value_word))
            return self._substitution_status
        prefix = {name: self._expand_joined(value) for name, value in assignments}
        if _literal(words[0]) == "export":
            return self._export(words[1:], io)
        argv = self._expand_words(words)
        if not argv:
            return self._substitution_status
        name, args = argv[0], argv[1:]
        try:
            return self._dispatch(name, args, io, prefix)
        except (_Abort, _Exit):
            raise
        except connection.SANDBOX_ERRORS:
            log.warning("sandbox server unavailable in the terminal", exc_info=True)
            io.err(connection.RECONNECTING + "\n")
            return 1
        except Exception:
            log.exception("terminal command %r failed", name)
            io.err(f"{name}: the command failed inside LearnLab. Try again.\n")
            return 1

    def _deadline(self) -> float:
        return self._started + LINE_SECONDS

    def _check_deadline(self) -> None:
        if time.monotonic() >= self._deadline():
            raise _Abort(f"this line ran for more than {LINE_SECONDS} s; the rest did not run.")

    def _dispatch(self, name: str, args: list[str], io: ProgramIO, prefix: dict) -> int:
        builtin = BUILTINS.get(name)
        if builtin is not None:
            return builtin(self, args, io)
        if name == "aws":
            return self._aws(args, io, prefix)
        if name == "curl":
            return run_curl(
                args, io=io, sandbox=self.sandbox, instance_id=self.state.host.instance_id
            )
        if name in ("jq", "python", "python3") and io.stdin is not None:
            refusal = _printer_refusal([name, *args])
            if refusal:
                io.err(refusal + "\n")
                return 2
            return _pretty_print([name, *args], io.stdin, io.out, io.err)
        if name in EDITORS:
            io.err(NO_EDITOR.format(name=name) + "\n")
            return 1
        if name == "jq":
            io.err(PRINTER_ONLY.format(name=name, usage="jq .") + "\n")
            return 2
        if name in ("python", "python3"):
            io.err(PRINTER_ONLY.format(name=name, usage="python3 -m json.tool") + "\n")
            return 2
        io.err(NOT_AVAILABLE.format(name=name) + "\n")
        return 127

    def _aws(self, args: list[str], io: ProgramIO, prefix: dict) -> int:
        # The AWS CLI (awscli, with its plugins and docutils) is loaded on the first ``aws``
        # command a process runs, not by every process that imports the terminal (the task
        # cluster's, the supervisor, web workers that never run one).
        from learnlab.terminal.aws import reads_only, run_aws

        if args[:2] == ["ssm", "start-session"] and "--target" in args[:-1]:
            return self._connect([args[args.index("--target") + 1]], io)
        environ = self._exported() | prefix
        started = timezone.now()  # the denials this command meets are recorded after it
        result = run_aws(
            args,
            sandbox=self.sandbox,
            environ=environ,
            instance_id=self.state.host.instance_id,
            deadline=self._deadline(),
            files=self._paramfiles(args),
        )
        io.out(result.stdout)
        if result.status != 0:  # "Explain" links (the denial's trace, the error's meaning),
            # above the CLI's own error line, which stays the last line as the CLI prints it
            io.err(explain_lines(sandbox=self.sandbox, since=started, stderr=result.stderr))
        io.err(result.stderr)
        if result.status != 0:  # the layers above count AWS's refusals (terminal/signals.py)
            aws_error_send(
                sender=Interpreter, sandbox=self.sandbox, command=args, stderr=result.stderr
            )
        if result.status == 0 and not reads_only(args):
            self._changed = True
        self._check_deadline()  # stopped at the limit: so is the rest of the line
        return result.status

    def _paramfiles(self, args: list[str]) -> dict:
        """What each ``file://``/``fileb://`` argument names, read before the CLI runs (it runs
        confined, and reads only these): the text, or the HomeError saying why not."""
        from learnlab.terminal.aws import paramfile_paths  # see _aws

        files: dict = {}
        for path in paramfile_paths(args):
            try:
                files[path] = self.home.read(self._home_key(), self._resolve(path))
            except home.HomeError as error:
                files[path] = error
        return files

    # Expansion

    def _expand_words(self, words) -> list[str]:
        fields: list[str] = []
        for word in words:
            fields.extend(self._expand(word))
        return fields

    def _expand(self, word: parser.Word) -> list[str]:
        """A word's fields: unquoted expansions split on blanks, as in bash (no globbing)."""
        fields: list[str] = []
        current: list[str] = []
        started = False
        for part in word:
            if isinstance(part, parser.Literal):
                current.append(part.text)
                started = True
                continue
            value = self._value(part)
            if part.quoted:
                current.append(value)
                started = True
                continue
            pieces = [piece for piece in FIELD_SEPARATORS.split(value) if piece]
            if not pieces:
                if value and started:
                    fields.append("".join(current))
                    current, started = [], False
                continue
            if value[0] in " \t\n" and started:
                fields.append("".join(current))
                current = []
            current.append(pieces[0])
            started = True
            for piece in pieces[1:]:
                fields.append("".join(current))
                current = [piece]
            if value[-1] in " \t\n":
                fields.append("".join(current))
                current, started = [], False
        if started:
            fields.append("".join(current))
        return fields

    def _expand_joined(self, word: parser.Word) -> str:
        """An assignment's value: expanded, never split."""
        return "".join(
            part.text if isinstance(part, parser.Literal) else self._value(part) for part in word
        )

    def _value(self, part) -> str:
        if isinstance(part, parser.Variable):
            if part.name == "?":
                return str(self.state.last_status)
            if part.name in SPECIAL_VALUES or part.name.isdigit():
                return SPECIAL_VALUES.get(part.name, "")
            return self._get(part.name) or ""
        return self._substitute(part.script)

    def _substitute(self, script: parser.Script) -> str:
        captured = _Sink()
        saved_status = self.state.last_status
        self._depth += 1
        try:
            status = self._run_script(script, captured.write, tty=False)
        except _Exit as exit_:
            status = exit_.status  # exit leaves the subshell only
        finally:
            self._depth -= 1
        self._substitution_status = status
        self.state.last_status = saved_status
        return captured.text().rstrip("\n")

    # Variables

    def _base(self, host: Host | None = None) -> dict:
        host = host or self.state.host
        if host.kind not in self._bases:
            self._bases[host.kind] = self._base_environment(self.sandbox, host)
        return self._bases[host.kind]

    def _environment(self) -> dict:
        kind = self.state.host.kind
        if kind not in self.state.environments:
            self.state.environments[kind] = {"variables": {}, "exported": sorted(self._base())}
        return self.state.environments[kind]

    def _get(self, name: str) -> str | None:
        variables = self._environment()["variables"]
        if name in variables:
            return variables[name]
        return self._base().get(name)

    def _set(self, name: str, value: str) -> None:
        variables = self._environment()["variables"]
        if len(value) > MAX_VALUE:
            raise _Abort(f"{name}: value too long for this lab ({MAX_VALUE // 1024} KB at most).")
        if name not in variables and len(variables) >= MAX_VARIABLES:
            raise _Abort(f"too many variables (this lab keeps {MAX_VARIABLES}).")
        variables[name] = value

    def _unset(self, name: str) -> None:
        environment = self._environment()
        if name in self._base():
            environment["variables"][name] = None
        else:
            environment["variables"].pop(name, None)
        if name in environment["exported"]:
            environment["exported"].remove(name)

    def _exported(self) -> dict:
        names = self._environment()["exported"]
        return {name: value for name in names if (value := self._get(name)) is not None}

    def _check_room_to_export(self, exported: list[str]) -> None:
        """Exported names are kept like variables, and as many: ``export a1 ... a1000`` (names
        without values) would otherwise grow the stored shell on every line."""
        base = self._base()
        if sum(name not in base for name in exported) >= MAX_VARIABLES:
            raise _Abort(f"too many variables (this lab keeps {MAX_VARIABLES}).")

    def _export(self, words, io: ProgramIO) -> int:
        status = 0
        environment = self._environment()
        for word in words:
            assignment = _assignment(word)
            if assignment:
                name, value_word = assignment
                self._set(name, self._expand_joined(value_word))
                names = [name]
            else:
                names = self._expand(word)
            for name in names:
                if name in ("-p", "-x", "-g"):
                    continue
                if not parser.NAME.fullmatch(name):
                    io.err(f"bash: export: `{name}': not a valid identifier\n")
                    status = 1
                elif name not in environment["exported"]:
                    self._check_room_to_export(environment["exported"])
                    environment["exported"].append(name)
        if not words or all(_literal(word) == "-p" for word in words):
            for name, value in sorted(self._exported().items()):
                io.out(f'declare -x {name}="{value}"\n')
        return status or self._substitution_status

    # Hosts

    def _connect(self, args: list[str], io: ProgramIO) -> int:
        if len(args) != 1:
            io.err("usage: connect INSTANCE-ID   (e.g. connect i-0abc1234def567890)\n")
            return 2
        if self._depth:
            io.err("connect: not available inside $(...)\n")
            return 1
        host = self.state.host
        if host.instance_id:
            io.err(
                f"connect: this shell is on {host.instance_id} already; type exit to return to "
                "your workstation first.\n"
            )
            return 1
        instance_id = args[0].rpartition("@")[2]
        try:
            facts = instance_facts(sandbox=self.sandbox, instance_id=instance_id)
        except InstanceNotFound as error:
            io.err(f"connect: {error}\n")
            return 1
        if facts["state"] != "running":
            io.err(
                f"connect: {instance_id} is {facts['state']}: only a running instance accepts "
                "connections.\n"
            )
            return 1
        self.enter_instance(instance_id, host_name(facts))
        io.out(
            f"Connected to {instance_id} ({self.state.host.name}) as ec2-user. This shell runs on "
            "the instance: aws uses the instance's role, curl reaches its metadata service.\n"
            "Type exit to return to your workstation.\n"
        )
        return 0

    def enter_instance(self, instance_id: str, name: str) -> None:
        self.state.host = Host(instance_id=instance_id, name=name)
        self.state.environments.pop("instance", None)  # a new login: a fresh environment

    def _leave_instance(self) -> None:
        self.state.host = Host()
        self.state.environments.pop("instance", None)


# Builtins: (interpreter, args, io) -> status


def _echo(shell: Interpreter, args: list[str], io: ProgramIO) -> int:
    newline, escapes = True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        newline = newline and "n" not in args[0]
        escapes = ("e" in args[0]) or (escapes and "E" not in args[0])
        args = args[1:]
    text = " ".join(args)
    if escapes:
        text = text.replace("\\n", "\n").replace("\\t", "\t").replace("\\\\", "\\")
    io.out(text + ("\n" if newline else ""))
    return 0


def _unset(shell: Interpreter, args: list[str], io: ProgramIO) -> int:
    for name in args:
        if name in ("-v", "-f"):
            continue
        if not parser.NAME.fullmatch(name):
            io.err(f"bash: unset: `{name}': not a valid identifier\n")
            return 1
        shell._unset(name)
    return 0


def _help(shell: Interpreter, args: list[str], io: ProgramIO) -> int:
    io.out(HELP)
    return 0


def _clear(shell: Interpreter, args: list[str], io: ProgramIO) -> int:
    if not shell._depth:
        shell._clear = True
        shell._display = _Sink()
    return 0


def _exit(shell: Interpreter, args: list[str], io: ProgramIO) -> int:
    status = int(args[0]) if args and args[0].isdigit() else shell.state.last_status
    if shell._depth:
        raise _Exit(status)
    host = shell.state.host
    if not host.instance_id:
        io.err(
            "exit: this is your workstation; there is nothing to exit to. "
            "(On an instance, exit returns here.)\n"
        )
        return 1
    io.out(f"logout\nConnection to {host.name} closed.\n")
    shell._leave_instance()
    raise _Exit(status)


def _history(shell: Interpreter, args: list[str], io: ProgramIO) -> int:
    io.out("Your earlier commands are kept in this browser tab: press the Up arrow.\n")
    return 0


def _pwd(shell: Interpreter, args: list[str], io: ProgramIO) -> int:
    io.out(f"/home/{shell.state.host.user}\n")
    return 0


def _cd(shell: Interpreter, args: list[str], io: ProgramIO) -> int:
    if not args or args[0] in ("~", "-", ".", f"/home/{shell.state.host.user}"):
        return 0
    io.err(f"bash: cd: {args[0]}: No such file or directory\n")
    return 1


def _flags(args: list[str], allowed: str, command: str, io: ProgramIO):
    """Short options (``-la``) and the other arguments; None after an error is shown."""
    flags, rest = set(), []
    for index, arg in enumerate(args):
        if arg == "--":
            rest.extend(args[index + 1 :])
            break
        if arg.startswith("-") and len(arg) > 1:
            for letter in arg[1:]:
                if letter not in allowed:
                    io.err(
                        f"{command}: invalid option -- '{letter}'\n"
                        f"This lab's {command} takes: {' '.join('-' + c for c in allowed)}\n"
                    )
                    return None
                flags.add(letter)
        else:
            rest.append(arg)
    return flags, rest


def _cat(shell: Interpreter, args: list[str], io: ProgramIO) -> int:
    parsed = _flags(args, "", "cat", io)
    if parsed is None:
        return 1
    _, paths = parsed
    if not paths:
        if io.stdin is None:
            io.err(
                "cat: reading from the keyboard is not available in this terminal: give a file "
                "name (cat trust.json), or a here-document: cat > trust.json <<'EOF' ... EOF\n"
            )
            return 1
        io.out(io.stdin)
        return 0
    status = 0
    for path in paths:
        if path == "-":
            io.out(io.stdin or "")
            continue
        try:
            io.out(shell.home.read(shell._home_key(), shell._resolve(path)))
        except home.HomeError as error:
            io.err(f"cat: {path}: {error}\n")
            status = 1
    return status


def _ls(shell: Interpreter, args: list[str], io: ProgramIO) -> int:
    parsed = _flags(args, "laA1h", "ls", io)
    if parsed is None:
        return 2
    flags, paths = parsed
    key, user = shell._home_key(), shell.state.host.user
    everything = shell.home.names(key)
    shown, status = [], 0
    home_dir = home.home_directory(user)
    for path in paths or ["."]:
        if path in (".", "~", "./", "~/", home_dir, home_dir + "/"):
            shown.extend(everything)
            continue
        try:
            found = shell.home.get(key, shell._resolve(path))
        except home.HomeError as error:
            io.err(f"ls: cannot access '{path}': {error}\n")
            status = 2
            continue
        if found is None:
            io.err(f"ls: cannot access '{path}': No such file or directory\n")
            status = 2
        else:
            shown.append(found)
    if "l" in flags:
        if not paths:
            io.out(f"total {sum(-(-f.size // 1024) * 4 for f in shown)}\n")
        for found in shown:
            when = found.updated_at.strftime("%b %e %H:%M") if found.updated_at else ""
            size = _human(found.size) if "h" in flags else str(found.size)
            io.out(f"-rw-r--r--. 1 {user} {user} {size:>6} {when} {found.name}\n")
    else:
        for found in shown:
            io.out(found.name + "\n")
    return status


def _human(size: int) -> str:
    return str(size) if size < 1024 else f"{size / 1024:.1f}K"


def _rm(shell: Interpreter, args: list[str], io: ProgramIO) -> int:
    parsed = _flags(args, "frRiv", "rm", io)
    if parsed is None:
        return 1
    flags, paths = parsed
    if not paths:
        if "f" in flags:
            return 0
        io.err("rm: missing operand\n")
        return 1
    status = 0
    for path in paths:
        try:
            name = shell._resolve(path)
            shell.home.remove(shell._home_key(), name)
            if "v" in flags:
                io.out(f"removed '{path}'\n")
        except home.HomeError as error:
            if "f" in flags and str(error) == "No such file or directory":
                continue
            io.err(f"rm: cannot remove '{path}': {error}\n")
            status = 1
    return status


def _touch(shell: Interpreter, args: list[str], io: ProgramIO) -> int:
    if not args:
        io.err("touch: missing file operand\n")
        return 1
    status = 0
    for path in args:
        try:
            shell.home.write(shell._home_key(), shell._resolve(path), "", append=True)
        except home.HomeError as error:
            io.err(f"touch: cannot touch '{path}': {error}\n")
            status = 1
    return status


def _copy(command: str):
    def copy_or_move(shell: Interpreter, args: list[str], io: ProgramIO) -> int:
        parsed = _flags(args, "fiv", command, io)
        if parsed is None:
            return 1
        _, paths = parsed
        if len(paths) != 2:
            io.err(f"{command}: this lab's {command} takes two file names: {command} FROM TO\n")
            return 1
        source, target = paths
        key = shell._home_key()
        try:
            text = shell.home.read(key, shell._resolve(source))
        except home.HomeError as error:
            io.err(f"{command}: cannot stat '{source}': {error}\n")
            return 1
        try:
            name = shell._resolve(target)
            shell.home.write(key, name, text)
            if command == "mv" and name != shell._resolve(source):
                shell.home.remove(key, shell._resolve(source))
        except home.HomeError as error:
            io.err(f"{command}: cannot create '{target}': {error}\n")
            return 1
        return 0

    return copy_or_move


BUILTINS: dict[str, Callable[[Interpreter, list[str], ProgramIO], int]] = {
    "cat": _cat,
    "ls": _ls,
    "rm": _rm,
    "touch": _touch,
    "cp": _copy("cp"),
    "mv": _copy("mv"),
    "echo": _echo,
    "unset": _unset,
    "help": _help,
    "clear": _clear,
    "exit": _exit,
    "logout": _exit,
    "connect": lambda shell, args, io: shell._connect(args, io),
    "history": _history,
    "pwd": _pwd,
    "cd": _cd,
    "true": lambda shell, args, io: 0,
    ":": lambda shell, args, io: 0,
    "false": lambda shell, args, io: 1,
}


# Pretty-printers after a pipe


def _printer_refusal(argv: list[str]) -> str | None:
    name = argv[0] if argv else ""
    if name == "jq":
        filters = [arg for arg in argv[1:] if arg not in JQ_FLAGS]
        if filters in ([], ["."]):
            return None
        return (
            f"jq: only `jq .` is available in this lab (it pretty-prints). To pick fields, use "
            f"the CLI's --query, e.g. --query 'Role.Arn' --output text (not {' '.join(filters)})."
        )
    if name in ("python", "python3") and argv[1:3] == ["-m", "json.tool"]:
        extra = [arg for arg in argv[3:] if arg not in ("--sort-keys", "--no-ensure-ascii")]
        return None if not extra else f"{name} -m json.tool: options not available: {extra[0]}"
    return (
        f"{name or 'the pipe'}: pipes are limited to a JSON pretty-printer in this lab: "
        "| jq .  or  | python3 -m json.tool"
    )


def _pretty_print(argv: list[str], text: str, out, err) -> int:
    jq = argv[0] == "jq"
    values, position = [], 0
    decoder = json.JSONDecoder()
    while True:
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        if position >= len(text):
            break
        try:
            value, position = decoder.raw_decode(text, position)
        except ValueError as error:
            if jq:
                line = text.count("\n", 0, position) + 1
                err(f"jq: error (at <stdin>:{line}): Cannot parse input: {error.msg}\n")
                return 2
            err(f"{error.msg}: line {error.lineno} column {error.colno} (char {error.pos})\n")
            return 1
        values.append(value)
        if not jq:
            break
    if not values and not jq:
        err("Expecting value: line 1 column 1 (char 0)\n")
        return 1
    flags = set(argv[1:])
    for value in values:
        if jq and ({"-r", "--raw-output"} & flags) and isinstance(value, str):
            out(value + "\n")
            continue
        compact = jq and bool({"-c", "--compact-output"} & flags)
        out(
            json.dumps(
                value,
                indent=None if compact else (2 if jq else 4),
                separators=(",", ":") if compact else None,
                ensure_ascii=not jq and "--no-ensure-ascii" not in flags,
                sort_keys=bool({"-S", "--sort-keys"} & flags),
            )
            + "\n"
        )
    return 0


def _assignment(word: parser.Word):
    """``NAME=value`` (NAME unquoted): the name and the value's parts, else None."""
    if not word or not isinstance(word[0], parser.Literal) or word[0].quoted:
        return None
    match = ASSIGNMENT.match(word[0].text)
    if not match:
        return None
    rest = word[0].text[match.end() :]
    value = ((parser.Literal(rest, False),) if rest else ()) + tuple(word[1:])
    return match.group(1), value


def _literal(word: parser.Word) -> str | None:
    """The word's text when it has no expansions (how a command name is recognised early)."""
    if all(isinstance(part, parser.Literal) for part in word):
        return "".join(part.text for part in word)
    return None
