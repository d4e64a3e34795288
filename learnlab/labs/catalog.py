"""Labs as data: every ``content/*.toml`` file is one lab, validated as it loads.

A lab names its steps' checks (``checks.CHECKS``), console forms (``console.FORMS``) and diagram
(``diagrams.DIAGRAMS``) by name; this engine knows nothing about any particular lab.
"""

import dataclasses
import functools
import html
import importlib
import logging
import pkgutil
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import markdown
from botocore.exceptions import ParamValidationError
from botocore.session import get_session
from botocore.validate import validate_parameters
from django.conf import settings

from learnlab.gate.allowlist import SERVICES
from learnlab.quiz.bank import EXAM_POINTS

log = logging.getLogger(__name__)
LAB_DIR = Path(__file__).parent / "content"
SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# Names the lab's addresses share with other pages (/embed/relay/..., /embed/demo-host): a lab
# with one of them as its slug would be shadowed there.
RESERVED_SLUGS = {"relay", "demo-host"}
WAYS = ("console", "cli")
# What a lab's text may say of the learner's own sandbox, filled in when the page is shown:
# ``{clock_speed}`` (the lab clock's speed, 60) and ``{lab_hour}`` (a lab-hour in real time).
PLACEHOLDERS = ("clock_speed", "lab_hour")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# What a lab's snippets may show as an example the learner's own replaces (``[examples]``):
# the diagram's facts, as checks report them.
EXAMPLE_FACTS = ("instance",)
SNIPPET = re.compile(r"<pre><code( class=\"[^\"]*\")?>(.*?)</code></pre>", re.DOTALL)
# Machine-runnable solutions (docs/authoring.md, section 6): per way, a list of entries, each a
# terminal line, a console form post (console way only) or a wait for the lab clock.
RUNS = {"cli": "cli_run", "console": "console_run"}
WAITS = ("renewal",)  # {wait = "renewal"}: the lab clock renews every instance's credentials


@dataclass(frozen=True)
class RunEntry:
    """One thing a machine-runnable solution does: ``line`` (a terminal line), ``form`` with
    ``fields`` (a console form post) or ``wait`` (one of WAITS)."""

    line: str = ""
    form: str = ""
    fields: dict = dataclasses.field(default_factory=dict)
    wait: str = ""

    @property
    def said(self) -> str:
        """How a report shows it."""
        if self.form:
            return f"console form {self.form} {self.fields}"
        if self.wait:
            return f"wait for the clock's {self.wait}"
        return self.line


@dataclass(frozen=True)
class SetupCall:
    """One AWS call of a lab's prepared state, made as the learner's lab user (boto3 names)."""

    service: str
    operation: str
    params: dict


class LabError(ValueError):
    """A lab file breaks a rule; the message names the file, the step and the rule."""


@dataclass(frozen=True)
class Step:
    number: int
    slug: str
    title: str
    points: tuple[str, ...]
    check: str
    forms: tuple[str, ...]
    host: str  # where the terminal runs for this step: "workstation" or "instance"
    instructions: str  # HTML rendered from the file's Markdown
    hint: str
    solutions: dict  # way -> HTML
    # way -> the machine-runnable solution (RunEntry tuple), None when the file gives none
    runs: dict = dataclasses.field(default_factory=dict)

    @property
    def anchor(self) -> str:
        return f"step-{self.number}"

    def text(self, values: dict) -> dict:
        """Instructions, hint and solutions with PLACEHOLDERS filled in from ``values``."""

        def fill(text: str) -> str:
            return PLACEHOLDER.sub(lambda m: html.escape(str(values.get(m[1], m[0]))), text)

        return {
            "instructions": fill(self.instructions),
            "hint": fill(self.hint),
            "solutions": {way: fill(text) for way, text in self.solutions.items()},
        }


@dataclass(frozen=True)
class Lab:
    slug: str
    title: str
    summary: str
    diagram: str
    steps: tuple[Step, ...]
    # Each fact (EXAMPLE_FACTS) -> the example value its snippets show for it.
    examples: dict = dataclasses.field(default_factory=dict)
    # The prepared state: AWS calls made when the learner starts the lab and after a reset.
    setup: tuple[SetupCall, ...] = ()
    path: Path | None = None  # the file it was read from (None: parsed from text)

    def step(self, slug: str) -> Step | None:
        return next((s for s in self.steps if s.slug == slug), None)

    def step_after(self, step: Step) -> Step | None:
        return self.steps[step.number] if step.number < len(self.steps) else None

    @property
    def points(self) -> tuple[str, ...]:
        """Every exam point the lab's steps teach, in order of first appearance."""
        return tuple(dict.fromkeys(p for step in self.steps for p in step.points))


def _html(text: str, snippet_id: str = "") -> str:
    """Markdown to HTML; each code block gets Copy and Run in terminal buttons (ids from
    ``snippet_id``, unique on the lab page)."""
    rendered = markdown.markdown(text.strip(), extensions=["fenced_code", "tables"])
    count = 0

    def snippet(match: re.Match) -> str:
        nonlocal count
        count += 1
        source = f"{snippet_id}-{count}"
        return (
            f'<div class="snippet"><pre id="{source}"><code{match[1] or ""}>{match[2]}</code>'
            f'</pre><p class="snippet-actions">'
            f'<button type="button" class="button button-small" data-snippet-copy="{source}">'
            f"Copy</button> "
            f'<button type="button" class="button button-small" data-snippet-run="{source}">'
            f"Run in terminal</button></p></div>"
        )

    return SNIPPET.sub(snippet, rendered) if snippet_id else rendered


def _placeholders_unknown(*texts: str) -> list[str]:
    return sorted(
        {name for text in texts for name in PLACEHOLDER.findall(text)} - set(PLACEHOLDERS)
    )


def _step(raw: dict, number: int, where: str, registries: dict) -> Step:
    where = f"{where}, step {number}"
    problems = []
    for field in ("slug", "title", "points", "check", "instructions", "hint", "solution"):
        if not raw.get(field):
            problems.append(f"missing {field}")
    if problems:
        raise LabError(f"{where}: " + "; ".join(problems))
    if not SLUG.fullmatch(raw["slug"]):
        problems.append(f"slug {raw['slug']!r} must be lower-case words joined by hyphens")
    unknown_points = [p for p in raw["points"] if p not in EXAM_POINTS]
    if unknown_points:
        problems.append(f"unknown exam points {unknown_points} (EP01 to EP18)")
    if raw["check"] not in registries["checks"]:
        problems.append(f"unknown check {raw['check']!r}")
    unknown_forms = [f for f in raw.get("forms", []) if f not in registries["forms"]]
    if unknown_forms:
        problems.append(f"unknown console forms {unknown_forms}")
    host = raw.get("host", "workstation")
    if host not in ("workstation", "instance"):
        problems.append("host must be workstation or instance")
    solution = raw["solution"]
    missing_ways = [way for way in WAYS if not isinstance(solution, dict) or not solution.get(way)]
    if missing_ways:
        problems.append(f"missing solution for {' and '.join(missing_ways)}")
    unknown = (
        set(raw)
        - {"slug", "title", "points", "check", "forms", "host"}
        - {
            "instructions",
            "hint",
            "solution",
        }
    )
    if unknown:
        problems.append(f"unknown fields {sorted(unknown)}")
    runs = {}
    if isinstance(solution, dict):
        unknown_ways = set(solution) - set(WAYS) - set(RUNS.values())
        if unknown_ways:
            problems.append(f"unknown solution fields {sorted(unknown_ways)}")
        for way, key in RUNS.items():
            if key in solution:
                runs[way] = _run_entries(solution[key], way, key, raw.get("forms", []), problems)
            else:
                runs[way] = None
    texts = [raw["instructions"], raw["hint"]]
    texts += [solution[way] for way in WAYS if isinstance(solution, dict) and solution.get(way)]
    if names := _placeholders_unknown(*texts):
        problems.append(f"unknown placeholders {names} (known: {', '.join(PLACEHOLDERS)})")
    if problems:
        raise LabError(f"{where}: " + "; ".join(problems))
    anchor = f"step-{number}"
    return Step(
        number=number,
        slug=raw["slug"],
        title=raw["title"],
        points=tuple(raw["points"]),
        check=raw["check"],
        forms=tuple(raw.get("forms", ())),
        host=host,
        instructions=_html(raw["instructions"], f"{anchor}-snippet"),
        hint=_html(raw["hint"], f"{anchor}-hint-snippet"),
        solutions={way: _html(solution[way], f"{anchor}-{way}-snippet") for way in WAYS},
        runs=runs,
    )


def _run_entries(entries, way: str, key: str, forms: list, problems: list) -> tuple:
    """A way's machine-runnable solution; each broken rule goes on ``problems``."""
    if not isinstance(entries, list):
        problems.append(f"{key} must be a list of terminal lines and tables")
        return ()
    parsed = []
    for index, entry in enumerate(entries, 1):
        where = f"{key} entry {index}"
        if isinstance(entry, str):
            if not entry.strip():
                problems.append(f"{where} is an empty terminal line")
            parsed.append(RunEntry(line=entry))
            continue
        if not isinstance(entry, dict):
            problems.append(f"{where} must be a terminal line (a string) or a table")
            continue
        if "wait" in entry:
            if set(entry) != {"wait"} or entry["wait"] not in WAITS:
                problems.append(f"{where}: a wait is {{ wait = {' or '.join(map(repr, WAITS))} }}")
                continue
            parsed.append(RunEntry(wait=entry["wait"]))
            continue
        if "form" not in entry or set(entry) - {"form", "fields"}:
            problems.append(
                f"{where}: a table is {{ form = ..., fields = {{...}} }} or {{ wait = ... }}"
            )
            continue
        if way != "console":
            problems.append(f"{where}: the CLI way uses no console form (use terminal lines)")
            continue
        if entry["form"] not in forms:
            problems.append(
                f"{where}: form {entry['form']!r} is not one of the step's forms {list(forms)}"
            )
            continue
        fields = entry.get("fields", {})
        good = isinstance(fields, dict) and all(
            isinstance(v, str | int)  # true/false are ints too
            or (isinstance(v, list) and all(isinstance(i, str) for i in v))
            for v in fields.values()
        )
        if not good:
            problems.append(
                f"{where}: fields must map field names to text, numbers, true/false or lists"
            )
            continue
        parsed.append(RunEntry(form=entry["form"], fields=fields))
    return tuple(parsed)


@functools.cache
def _service_model(service: str):
    return get_session().get_service_model(service)


def _setup(entries, where: str) -> tuple[SetupCall, ...]:
    """A lab's prepared state: each entry an AWS call botocore would send as it is."""
    if not isinstance(entries, list):
        raise LabError(f"{where}: setup must be a list of [[setup]] tables")
    calls = []
    for index, entry in enumerate(entries, 1):
        said = f"{where}, setup call {index}"
        if not isinstance(entry, dict) or set(entry) - {"service", "operation", "params"}:
            raise LabError(f"{said}: a setup call has service, operation and params only")
        service, operation = entry.get("service"), entry.get("operation")
        params = entry.get("params", {})
        if service not in SERVICES:
            raise LabError(f"{said}: service must be one of {', '.join(SERVICES)}")
        model = _service_model(service)
        if operation not in model.operation_names:
            raise LabError(f"{said}: {service} has no operation {operation!r}")
        if not isinstance(params, dict):
            raise LabError(f"{said}: params must be a table")
        try:
            validate_parameters(params, model.operation_model(operation).input_shape)
        except ParamValidationError as error:
            raise LabError(f"{said}: {operation}'s params: {error}") from error
        calls.append(SetupCall(service, operation, params))
    return tuple(calls)


def lab_parse(text: str, *, where: str, registries: dict) -> Lab:
    """One lab from its TOML text; ``registries`` maps checks, forms and diagrams to names."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise LabError(f"{where}: not valid TOML: {error}") from error
    for field in ("slug", "title", "summary", "steps"):
        if not data.get(field):
            raise LabError(f"{where}: missing {field}")
    if not SLUG.fullmatch(data["slug"]):
        raise LabError(f"{where}: slug must be lower-case words joined by hyphens")
    if data["slug"] in RESERVED_SLUGS:
        raise LabError(
            f"{where}: slug {data['slug']!r} is reserved (a page of the same address exists): "
            "choose another"
        )
    diagram = data.get("diagram", "")
    if diagram and diagram not in registries["diagrams"]:
        raise LabError(f"{where}: unknown diagram {diagram!r}")
    examples = data.get("examples", {})
    if not isinstance(examples, dict) or set(examples) - set(EXAMPLE_FACTS):
        raise LabError(
            f"{where}: examples must be a table of {', '.join(EXAMPLE_FACTS)} to example values"
        )
    unknown = set(data) - {"slug", "title", "summary", "diagram", "steps", "examples", "setup"}
    if unknown:
        raise LabError(f"{where}: unknown fields {sorted(unknown)}")
    if not isinstance(data["steps"], list) or not all(isinstance(s, dict) for s in data["steps"]):
        raise LabError(f"{where}: steps must be [[steps]] tables")
    setup = _setup(data.get("setup", []), where)
    # Every step's problems at once (a line each), so an author fixes them in one pass.
    steps, errors = [], []
    for number, raw in enumerate(data["steps"], 1):
        try:
            steps.append(_step(raw, number, where, registries))
        except LabError as error:
            errors.append(str(error))
    if errors:
        raise LabError("\n".join(errors))
    steps = tuple(steps)
    slugs = [s.slug for s in steps]
    if len(set(slugs)) != len(slugs):
        raise LabError(f"{where}: step slugs must be unique")
    return Lab(
        data["slug"], data["title"], data["summary"].strip(), diagram, steps, examples, setup
    )


def registries() -> dict:
    """What lab files may name. Checks and forms live in ``checks.py`` and ``console.py`` and in
    any ``checks_<lab>.py`` or ``console_<lab>.py`` module beside them (imported here, so their
    ``@check`` and ``FORMS`` entries register)."""
    from learnlab.labs import checks, console, diagrams

    package = Path(__file__).parent
    for module in pkgutil.iter_modules([str(package)]):
        if module.name.startswith(("checks_", "console_")):
            importlib.import_module(f"learnlab.labs.{module.name}")
    return {"checks": checks.CHECKS, "forms": console.FORMS, "diagrams": diagrams.DIAGRAMS}


def lab_read(path: Path) -> Lab:
    """One lab file, validated (LabError names the file, the step and the rule)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise LabError(f"{path.name}: cannot be read: {error}") from error
    lab = lab_parse(text, where=path.name, registries=registries())
    return dataclasses.replace(lab, path=path)


def labs_all() -> dict[str, Lab]:
    """Every lab in the content folder (``LAB_DIR``), by slug, in file-name order. A file that
    does not load (``lab validate`` says why) is left out, with an error logged as it is read
    and kept in ``lab_catalog_errors``: one broken file must not take every lab page down.

    In production the files are read once. With DEBUG on (``make dev``) a file whose
    modification time changed is read again, so a lab's page shows an edit on its next load."""
    return _catalog().labs


def lab_catalog_errors() -> tuple[str, ...]:
    """Why each lab file left out of ``labs_all`` was left out (empty when none was)."""
    return _catalog().errors


def _catalog() -> "_Catalog":
    return _labs_in(LAB_DIR, _modified(LAB_DIR) if settings.DEBUG else None)


def _modified(directory: Path) -> tuple:
    """The content folder's files with their modification times: what a re-read follows."""
    found = []
    for path in sorted(directory.glob("*.toml")):
        try:
            found.append((path.name, path.stat().st_mtime_ns))
        except OSError:
            continue  # removed while listing
    return tuple(found)


def lab_version(slug: str) -> str:
    """What changes when the lab's file changes (its modification time): the page's preview
    reload polls it. Empty for an unknown lab."""
    lab = lab_get(slug)
    if lab is None or lab.path is None:
        return ""
    try:
        return str(lab.path.stat().st_mtime_ns)
    except OSError:
        return ""


@dataclass(frozen=True)
class _Catalog:
    labs: dict[str, Lab]
    errors: tuple[str, ...]


@functools.lru_cache(maxsize=8)
def _labs_in(directory: Path, modified: tuple | None) -> _Catalog:
    labs: dict[str, Lab] = {}
    errors: list[str] = []
    for path in sorted(directory.glob("*.toml")):
        try:
            lab = lab_read(path)
            if lab.slug in labs:
                raise LabError(f"{path.name}: a lab with slug {lab.slug!r} already exists")
        except LabError as error:
            log.error("lab left out of the catalogue: %s", error)
            errors.append(str(error))
            continue
        labs[lab.slug] = lab
    return _Catalog(labs, tuple(errors))


def lab_get(slug: str) -> Lab | None:
    return labs_all().get(slug)
