"""``aws`` in the terminal: the real AWS CLI (v1) run in-process against the learner's sandbox.

Each command gets a fresh botocore session that sees only the simulated host: the environment the
learner's shell exports (the lab keys on the workstation, nothing but a region on an instance),
no config or credentials files, none of the server's ``AWS_*`` variables. Every request goes
through the AWS gate in-process (``attach_gate``); on an instance, credentials come from botocore's
own metadata provider, answered by the instance's metadata service in-process.

What would read or write the server's files, or escape the sandbox, is refused before the CLI runs
(``screen``); ``guard.confined`` stands behind that while the CLI runs. ``file://`` and
``fileb://`` arguments name files in the host's virtual home (``home.py``): the interpreter reads
them before the command runs and the CLI's own ``load-cli-arg`` step takes them from that
(``_HomeParamFiles``), never from a disk.

Learners' commands run side by side, one web worker thread each, and none waits for another's:
the CLI prints to ``sys.stdout``/``sys.stderr``, which are replaced once by stand-ins that send
each thread's writes to the buffers of the command that thread runs (``_captured``), and
everything else (the CLI's logger, its parsers' program name) is set up once, not per command.
A command also stops at its line's deadline: every request it makes first checks the time
(``_stop_at``), so many pages or a waiter end at the limit, not after it.
"""

# The gate client imports boto3 and with it the pinned botocore. awscli ships its own botocore
# and, once imported, makes ``import botocore`` resolve to that copy unless botocore is already
# loaded: importing these first keeps one botocore (and s3transfer) in the process.
import argparse
import contextvars
import copy
import functools
import io
import logging
import sys
import threading
import time
from dataclasses import dataclass

import botocore.session
import s3transfer  # noqa: F401  (see above)
from botocore import xform_name
from botocore.config import Config
from botocore.configprovider import (
    BOTOCORE_DEFAUT_SESSION_VARIABLES,
    DEFAULT_PROXIES_CONFIG_VARS,
    DEFAULT_S3_CONFIG_VARS,
    ConfigChainFactory,
    ConfigValueStore,
    SectionConfigProvider,
    _create_config_chain_mapping,
)
from botocore.credentials import CredentialResolver, EnvProvider, InstanceMetadataProvider
from botocore.hooks import HierarchicalEmitter
from botocore.loaders import Loader
from botocore.session import SessionVarDict, SubsetChainConfigFactory
from botocore.utils import InstanceMetadataFetcher

from learnlab.gate.client import ENDPOINT, attach_gate
from learnlab.sandbox.models import Sandbox
from learnlab.terminal import guard, home
from learnlab.terminal.instance import MetadataTransport

import awscli  # isort: skip  (after botocore, see above)
import awscli.argparser  # isort: skip
import awscli.clidriver  # isort: skip
from awscli.alias import AliasLoader  # isort: skip
from awscli.argprocess import ParamError  # isort: skip
from awscli.customizations.history import attach_history_handler  # isort: skip
from awscli.paramfile import PARAMFILE_DISABLED, register_uri_param_handler  # isort: skip
from awscli.plugin import load_plugins  # isort: skip

log = logging.getLogger(__name__)

OUTPUT_LIMIT = 256 * 1024
SERVICES = {"iam": "iam", "ec2": "ec2", "sts": "sts", "s3api": "s3"}  # CLI name: botocore name
S3_COMMANDS = ("ls", "mb", "rb")
# Variables of the learner's shell that reach the CLI; the rest (AWS_CONFIG_FILE,
# AWS_ENDPOINT_URL, AWS_CA_BUNDLE, AWS_PROFILE, ...) would point it outside the sandbox.
PASSED_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_DEFAULT_OUTPUT",
    "AWS_EC2_METADATA_DISABLED",
)
GLOBALS_WITH_VALUES = (
    "--output",
    "--query",
    "--region",
    "--color",
    "--cli-read-timeout",
    "--cli-connect-timeout",
    "--endpoint-url",
    "--profile",
    "--ca-bundle",
)
SANDBOX_NOTE = "the terminal always acts in your own sandbox."
REFUSED_OPTIONS = {
    "--debug": "--debug is not available in this lab: it prints the server's internals.",
    "--endpoint-url": f"--endpoint-url is not available in this lab: {SANDBOX_NOTE}",
    "--profile": (
        "--profile is not available in this lab: there are no profiles here. The CLI uses the "
        "credentials of the host you are on (your lab keys on the workstation, the role of the "
        "instance on an instance) or the AWS_* variables you export."
    ),
    "--ca-bundle": "--ca-bundle is not available in this lab: it reads a file.",
    "--cli-input-json": (
        "--cli-input-json is not available in this lab: give the parameters as options, JSON "
        "in single quotes, e.g. --assume-role-policy-document '{\"Version\": ...}'."
    ),
    "--cli-input-yaml": "--cli-input-yaml is not available in this lab.",
    "--outfile": "--outfile is not available in this lab: the terminal cannot write files.",
    "--priv-launch-key": "--priv-launch-key is not available in this lab: it reads a file.",
    "--body": (
        "--body is not available in this lab: it uploads a file, and the terminal has no files. "
        "Leave it out to create an empty object."
    ),
}
FILE_PREFIXES = ("file://", "fileb://")
URL_PREFIXES = ("http://", "https://")
WRITES_A_FILE = {("s3api", "get-object"), ("s3api", "get-object-torrent")}
WAITER_DELAY, WAITER_ATTEMPTS = 1, 3  # the sandbox changes state at once: fail fast, not in 10 min
VERSION = (
    f"aws-cli/{awscli.__version__} Python/3 Linux botocore/{botocore.__version__} (LearnLab)\n"
)


@dataclass
class AwsResult:
    stdout: str
    stderr: str
    status: int


class _LabSessionVarDict(SessionVarDict):
    def _update_config_store_from_session_vars(self, logical_name, config_options):
        config_name, env_vars, default, typecast = config_options
        self._session.get_component("config_store").set_config_provider(
            logical_name,
            self._session.config_chains().create_config_chain(
                instance_name=logical_name,
                env_var_names=env_vars,
                config_property_names=config_name,
                default=default,
                conversion_func=typecast,
            ),
        )


class LabSession(botocore.session.Session):
    """A botocore session confined to the simulated host (see the module docstring)."""

    def __init__(self, *, environ: dict, events, metadata: MetadataTransport | None):
        self._lab_environ = dict(environ)  # never None: botocore would use os.environ
        self._lab_metadata = metadata
        super().__init__(event_hooks=events, include_builtin_handlers=False)
        self._config = {"profiles": {}}  # no config or credentials file is ever read
        self.session_var_map = _LabSessionVarDict(self, self.SESSION_VARIABLES)
        self.session_var_map.update(awscli.EnvironmentVariables)

    def set_stream_logger(self, logger_name, log_level, stream=None, format_string=None):
        """The CLI calls this on every run; ``_run_driver`` sets up the one handler it needs."""

    def config_chains(self, methods=None):
        if methods is None:
            return ConfigChainFactory(session=self, environ=self._lab_environ)
        return SubsetChainConfigFactory(session=self, methods=methods, environ=self._lab_environ)

    def _register_config_store(self):
        chains = self.config_chains()
        mapping = _create_config_chain_mapping(chains, BOTOCORE_DEFAUT_SESSION_VARIABLES)
        for section, variables in (
            ("s3", DEFAULT_S3_CONFIG_VARS),
            ("proxies_config", DEFAULT_PROXIES_CONFIG_VARS),
        ):
            mapping[section] = SectionConfigProvider(
                section, self, _create_config_chain_mapping(chains, variables)
            )
        self._components.register_component("config_store", ConfigValueStore(mapping=mapping))

    def _get_config_variable_with_custom_methods(self, logical_name, methods):
        # As botocore's, for ``aws configure list``, but on the simulated environment.
        chains = self.config_chains(methods)
        mapping = {}
        for name, (config_name, env_vars, default, typecast) in self.session_var_map.items():
            mapping[name] = chains.create_config_chain(
                instance_name=name if "instance" in methods else None,
                env_var_names=env_vars if "env" in methods else None,
                config_property_name=config_name if "config" in methods else None,
                default=default,
                conversion_func=typecast,
            )
        return ConfigValueStore(mapping=mapping).get_config_variable(logical_name)

    def _create_credential_resolver(self):
        # botocore's default chain, less what reads files, runs processes or calls containers:
        # the environment, then (on an instance) the instance's metadata service.
        providers = [EnvProvider(environ=self._lab_environ)]
        if self._lab_metadata is not None:
            fetcher = InstanceMetadataFetcher(
                timeout=1, num_attempts=1, env=self._lab_environ, user_agent=self.user_agent()
            )
            fetcher._session = self._lab_metadata  # its HTTP session: in-process instead
            providers.append(InstanceMetadataProvider(iam_role_fetcher=fetcher))
        return CredentialResolver(providers=providers)


class _FastWaiters(Loader):
    """The sandbox changes state at once, so waiters poll briefly instead of for minutes."""

    def load_service_model(self, service_name, type_name, api_version=None):
        model = super().load_service_model(service_name, type_name, api_version)
        if type_name != "waiters-2":
            return model
        model = copy.deepcopy(model)
        for waiter in model.get("waiters", {}).values():
            waiter["delay"], waiter["maxAttempts"] = WAITER_DELAY, WAITER_ATTEMPTS
        return model


class _NoAliases(AliasLoader):
    def _load_aliases(self):
        return {"toplevel": {}}  # never ~/.aws/cli/alias


class _Capped(io.StringIO):
    """A command's output, kept up to OUTPUT_LIMIT characters."""

    truncated = False

    def write(self, text):
        room = OUTPUT_LIMIT - self.tell()
        if len(text) > room:
            self.truncated = True
            text = text[: max(room, 0)]
        return super().write(text) if text else 0

    def isatty(self):
        return False


# The running command's (stdout, stderr) in this thread; None outside a command.
_captured: contextvars.ContextVar[tuple[_Capped, _Capped] | None] = contextvars.ContextVar(
    "terminal_captured", default=None
)


class _CommandStream:
    """Stands in for ``sys.stdout`` (0) or ``sys.stderr`` (1) for good: a thread running a
    terminal command writes to that command's buffer, every other thread to the stream this
    replaced."""

    def __init__(self, which: int, replaced):
        self._which, self._replaced = which, replaced

    def _target(self):
        captured = _captured.get()
        return self._replaced if captured is None else captured[self._which]

    def write(self, text):
        return self._target().write(text)

    def flush(self):
        return self._target().flush()

    def isatty(self):
        return self._target().isatty()

    def __getattr__(self, name):
        return getattr(self._target(), name)


class _CommandStderr(logging.Handler):
    """The CLI's own error log lines belong on the command's stderr, as in a real terminal."""

    def emit(self, record):
        captured = _captured.get()
        if captured is not None:
            captured[1].write(self.format(record) + "\n")


def _streams_install() -> None:
    """Put the stand-ins in place (again, if something such as pytest swapped the streams)."""
    with _shared_lock:
        for name, which in (("stdout", 0), ("stderr", 1)):
            current = getattr(sys, name)
            if not isinstance(current, _CommandStream):
                setattr(sys, name, _CommandStream(which, current))


def _named_aws(init):
    """The CLI's parsers name the program ``aws`` in their messages, as the real one run as
    ``aws`` does, instead of after ``sys.argv[0]`` (the web server's, shared by every thread)."""

    @functools.wraps(init)
    def named(self, *args, prog="aws", **kwargs):
        init(self, *args, prog=prog, **kwargs)

    return named


awscli.argparser.CLIArgParser.__init__ = _named_aws(argparse.ArgumentParser.__init__)


class DeadlinePassed(Exception):
    """The line's time ran out while the command ran: it makes no further request."""


def _stop_at(deadline: float):
    def check(**_kwargs):
        if time.monotonic() >= deadline:
            raise DeadlinePassed(
                "aws: stopped: the command line reached the terminal's time limit."
            )

    return check


def _strip_dangerous_arguments(argument_table, **_kwargs):
    """Defence in depth behind ``screen``: arguments that read or write local files."""
    for name in list(argument_table):
        argument = argument_table[name]
        model = getattr(argument, "argument_model", None)
        streaming = (
            model is not None and model.type_name == "blob" and model.serialization.get("streaming")
        )
        if streaming or f"--{name}" in REFUSED_OPTIONS:
            del argument_table[name]


# Guards the one-time set-up below and _streams_install; no command holds it while it runs.
_shared_lock = threading.Lock()
_shared: dict = {}


def _shared_parts() -> tuple[Loader, HierarchicalEmitter]:
    """One data loader (its model cache makes commands fast) and one template of the CLI's
    event handlers, copied into each command's session."""
    with _shared_lock:
        if not _shared:
            data_path = awscli.__path__[0] + "/data"
            loader = _FastWaiters(
                extra_search_paths=[data_path, Loader.BUILTIN_DATA_PATH],
                include_default_search_paths=False,  # never ~/.aws/models
            )
            template = HierarchicalEmitter()
            builder = botocore.session.Session(event_hooks=template)
            load_plugins({}, event_hooks=builder.get_component("event_emitter"))
            # Parameters are never loaded from files or URLs (``screen`` refuses them too); no
            # credential cache or command history is kept in files.
            template.unregister("session-initialized", register_uri_param_handler)
            template.unregister(
                "session-initialized", unique_id="inject_assume_role_cred_provider_cache"
            )
            template.unregister("session-initialized", attach_history_handler)
            template.register_last("building-argument-table", _strip_dangerous_arguments)
            # Its debug lines (parameter values among them) go nowhere, not to the server's log.
            cli_log = logging.getLogger("awscli")
            cli_log.handlers[:], cli_log.propagate = [_CommandStderr(logging.ERROR)], False
            cli_log.setLevel(logging.ERROR)
            _shared.update(loader=loader, template=template)
    return _shared["loader"], _shared["template"]


@functools.cache
def _global_options() -> tuple[str, ...]:
    """The CLI's global options (``aws [options] <command>``), as its main parser has them."""
    loader, _ = _shared_parts()
    return tuple(f"--{name}" for name in loader.load_data("cli")["options"])


def global_option(name: str) -> str | None:
    """The global option the CLI reads ``name`` as (``--reg`` is --region), None for none:
    its main parser is argparse's with abbreviations allowed, so a prefix of one global option
    only is that option, wherever on the line. A prefix of two or more is argparse's
    "ambiguous option" error, which the CLI prints."""
    options = _global_options()
    if name in options:
        return name
    matches = [option for option in options if option.startswith(name)] if len(name) > 2 else []
    return matches[0] if len(matches) == 1 else None


def _refused_global(name: str) -> str | None:
    """The refused global option (``--d`` is --debug, ``--e`` --endpoint-url) ``name`` is."""
    option = global_option(name)
    return option if option in REFUSED_OPTIONS else None


def screen(args: list[str]) -> str | None:
    """Why this ``aws`` command may not run here, or None. Nothing has run yet."""
    positionals = command_words(args)
    service = positionals[0] if positionals else None
    operation = positionals[1] if len(positionals) > 1 else None
    for index, arg in enumerate(args):
        name, has_value, value = arg.partition("=")
        if arg.startswith("--") and not arg.startswith("--no-"):
            if refused := _refused_global(name):
                return f"aws: {REFUSED_OPTIONS[refused]}"
            for refused, reason in REFUSED_OPTIONS.items():
                if name == refused or (len(name) >= 4 and refused.startswith(name)):
                    return f"aws: {reason}"
        if arg.startswith("--") and has_value:
            candidate, option = value, name
        else:
            candidate = arg
            option = args[index - 1] if index and args[index - 1].startswith("--") else ""
        lowered = candidate.lower()
        if lowered.startswith(FILE_PREFIXES):
            prefix = candidate.split("://")[0] + "://"
            if not candidate.startswith(FILE_PREFIXES):
                return (
                    f"aws: {prefix} parameters are not available in this lab: the AWS CLI reads "
                    "files from file:// and fileb:// only, in lower case."
                )
            path = candidate[len(prefix) :]
            if not home.inside_a_home(path):
                return (
                    f"aws: {prefix} parameters are not available in this lab outside your home "
                    f"directory, and {path} is not in it. Write the file there first "
                    f"(cat > trust.json <<'EOF' ... EOF), then give {prefix}trust.json"
                )
        event = f"{service}.{operation}.{option.removeprefix('--')}"
        if lowered.startswith(URL_PREFIXES) and event not in PARAMFILE_DISABLED:
            return (
                "aws: parameter values that are URLs are not available in this lab: the AWS CLI "
                "would download them, and the terminal has no network. Paste the value inline."
            )
    if service is None or service == "help":
        return None
    if service == "s3":
        if operation not in (*S3_COMMANDS, None, "help"):
            return (
                f"aws s3 {operation}: not available in this lab: it moves files between a "
                "computer and S3, and this terminal has no files. Here: aws s3 ls, aws s3 mb, "
                "aws s3 rb, and aws s3api for objects."
            )
        return None
    if service == "configure":
        if operation not in ("list", "help"):
            return (
                "aws configure: only `aws configure list` is available in this lab: there are no "
                "config files here. The CLI takes credentials from the environment (your lab keys "
                "on the workstation) or from the instance's role."
            )
        return None
    if service not in SERVICES:
        return (
            f"aws: the {service} commands are not available in this lab. Available: "
            + ", ".join(SERVICES)
            + ", s3 (ls, mb, rb) and configure list. Type `aws help`."
        )
    if (service, operation) in WRITES_A_FILE:
        return f"aws {service} {operation}: not available in this lab: it writes a file."
    return None


def paramfile_paths(args: list[str]) -> list[str]:
    """The paths that ``file://``/``fileb://`` arguments name, as the CLI would see them."""
    paths = []
    for arg in args:
        value = arg.partition("=")[2] if arg.startswith("--") and "=" in arg else arg
        for prefix in FILE_PREFIXES:
            if value.startswith(prefix) and value[len(prefix) :] not in paths:
                paths.append(value[len(prefix) :])
    return paths


class _HomeParamFiles:
    """The CLI's ``load-cli-arg`` step for ``file://`` and ``fileb://`` (as awscli.paramfile's
    URIArgumentHandler, parameters it exempts included), answered from the files the
    interpreter read from the home: text for file://, bytes for fileb://, and the CLI's own
    words when a file is missing."""

    def __init__(self, files: dict):
        self.files = files

    def __call__(self, event_name, param, value, **_kwargs):
        if ".".join(event_name.split(".")[1:]) in PARAMFILE_DISABLED or getattr(
            param, "no_paramfile", None
        ):
            return None
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if not isinstance(value, str):
            return None
        for prefix in FILE_PREFIXES:
            if value.startswith(prefix):
                path = value[len(prefix) :]
                found = self.files.get(path)
                if isinstance(found, str):
                    return found.encode() if prefix == "fileb://" else found
                reason = str(found) if found is not None else ""
                if reason in ("", "No such file or directory"):
                    reason = f"[Errno 2] No such file or directory: '{path}'"
                raise ParamError(param.cli_name, f"Unable to load paramfile {value}: {reason}")
        return None


def reads_only(args: list[str]) -> bool:
    """Whether ``aws <args>`` only reads (so the lab page need not refresh its picture)."""
    positionals = command_words(args)
    operation = positionals[1] if len(positionals) > 1 else ""
    return (
        not operation
        or "help" in positionals
        or operation in ("ls", "list", "wait")
        or operation.startswith(("describe-", "list-", "get-"))
    )


def command_words(args: list[str]) -> list[str]:
    """The service, operation and first argument of ``aws`` args, past the global options."""
    found, index = [], 0
    while index < len(args) and len(found) < 3:
        arg = args[index]
        if arg.startswith("--"):
            takes_value = "=" not in arg and global_option(arg) in GLOBALS_WITH_VALUES
            index += 2 if takes_value else 1
            if not found or takes_value:
                continue
            break  # the operation's own options: its name is known by now
        found.append(arg)
        index += 1
    return found


def run_aws(
    args: list[str],
    *,
    sandbox: Sandbox,
    environ: dict,
    instance_id: str = "",
    deadline: float | None = None,
    files: dict | None = None,
) -> AwsResult:
    """Run ``aws <args>`` as the simulated host: ``environ`` is its exported environment. Past
    ``deadline`` (``time.monotonic()``), the command makes no further request. ``files``: what
    each ``file://`` path names (its text, or a ``home.HomeError``), from ``paramfile_paths``."""
    refusal = screen(args)
    if refusal:
        return AwsResult("", refusal + "\n", 252)
    positionals = command_words(args)
    if "help" in positionals:
        return AwsResult(help_text(positionals[: positionals.index("help")]), "", 0)
    if "--version" in args:
        return AwsResult(VERSION, "", 0)
    loader, template = _shared_parts()
    variables = {name: environ[name] for name in PASSED_VARIABLES if environ.get(name)}
    metadata = MetadataTransport(sandbox=sandbox, instance_id=instance_id) if instance_id else None
    session = LabSession(environ=variables, events=copy.copy(template), metadata=metadata)
    session.user_agent_name, session.user_agent_version = "aws-cli", awscli.__version__
    session.register_component("data_loader", loader)
    session.set_config_variable("endpoint_url", ENDPOINT)
    session.set_default_client_config(
        Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"})
    )
    events = session.get_component("event_emitter")
    attach_gate(events)
    events.register("load-cli-arg", _HomeParamFiles(files or {}), unique_id="learnlab-files")
    if deadline is not None:
        events.register("before-call", _stop_at(deadline), unique_id="learnlab-deadline")
    driver = awscli.clidriver.CLIDriver(session=session)
    driver.alias_loader = _NoAliases()
    return _run_driver(driver, args)


def _run_driver(driver, args: list[str]) -> AwsResult:
    _streams_install()
    stdout, stderr = _Capped(), _Capped()
    token = _captured.set((stdout, stderr))
    try:
        with guard.confined():
            status = driver.main(args)
    except SystemExit as exit_:  # argparse's errors and --version
        status = exit_.code if isinstance(exit_.code, int) else 2
    except Exception:
        log.exception("aws %s failed in the terminal", args[:2])
        stderr.write(
            "\nThe command failed inside LearnLab. Try again; if it persists, reset the lab.\n"
        )
        status = 255
    finally:
        _captured.reset(token)
    notice = "\n[output truncated: more than 256 KB]\n" if stdout.truncated else ""
    return AwsResult(stdout.getvalue() + notice, stderr.getvalue(), status)


def help_text(words: list[str]) -> str:
    """Short help in place of the CLI's man pages (which need a pager and groff)."""
    if not words:
        return (
            "usage: aws [options] <command> <subcommand> [parameters]\n\n"
            "Available in this lab:\n"
            "  aws iam ...        roles, policies, instance profiles\n"
            "  aws ec2 ...        instances and their instance profiles\n"
            "  aws sts ...        get-caller-identity, assume-role\n"
            "  aws s3api ...      buckets and objects (no file uploads or downloads)\n"
            "  aws s3 ls|mb|rb    list, make and remove buckets\n"
            "  aws configure list where the CLI found its credentials\n\n"
            "Options: --output json|text|table, --query JMESPATH, --region REGION, --no-paginate\n"
            "`aws <command> help` lists the subcommands; `aws <command> <subcommand> help`\n"
            "shows the parameters.\n"
        )
    service = words[0]
    if service == "s3":
        return (
            "aws s3 ls [s3://bucket[/prefix]]   list buckets, or the objects in one\n"
            "aws s3 mb s3://bucket               make a bucket\n"
            "aws s3 rb s3://bucket [--force]     remove a bucket\n"
        )
    if service == "configure":
        return "aws configure list   show where the CLI found credentials and region\n"
    model = _service_model(service)
    if model is None:
        return f"aws: no help for {service} in this lab. Type `aws help`.\n"
    operations = sorted(xform_name(name, "-") for name in model.operation_names)
    if len(words) == 1:
        listing = "\n".join(f"  {name}" for name in operations)
        return (
            f"aws {service} <subcommand> [parameters]\n\nSubcommands:\n{listing}\n\n"
            f"`aws {service} <subcommand> help` shows its parameters.\n"
        )
    operation = words[1]
    if operation not in operations:
        return f"aws {service}: no subcommand {operation}. Type `aws {service} help`.\n"
    operation_model = model.operation_model(
        next(name for name in model.operation_names if xform_name(name, "-") == operation)
    )
    shape = operation_model.input_shape
    lines = [f"aws {service} {operation}"]
    for member, member_shape in shape.members.items() if shape else []:
        option = "--" + xform_name(member, "-")
        required = member in shape.required_members
        if member_shape.type_name == "boolean":
            text = f"{option} | --no-{option[2:]}"
            lines.append(f"    [{text}]")
        else:
            lines.append(f"    {option} <value>" if required else f"    [{option} <value>]")
    lines.append(
        f"\nReference: https://docs.aws.amazon.com/cli/latest/reference/{service}/{operation}.html"
    )
    return "\n".join(lines) + "\n"


def _service_model(service: str):
    if service not in SERVICES:
        return None
    loader, _ = _shared_parts()
    from botocore.model import ServiceModel

    return ServiceModel(
        loader.load_service_model(SERVICES[service], "service-2"), SERVICES[service]
    )


def offline_driver():
    """A CLI driver with no sandbox, credentials or endpoint: for its command tables only (the
    completer), never to run a command."""
    loader, template = _shared_parts()
    session = LabSession(environ={}, events=copy.copy(template), metadata=None)
    session.user_agent_name, session.user_agent_version = "aws-cli", awscli.__version__
    session.register_component("data_loader", loader)
    driver = awscli.clidriver.CLIDriver(session=session)
    driver.alias_loader = _NoAliases()
    return driver
