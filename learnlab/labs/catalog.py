"""Labs as data: every ``content/*.toml`` file is one lab, validated as it loads.

A lab names its steps' checks (``checks.CHECKS``), console forms (``console.FORMS``) and diagram
(``diagrams.DIAGRAMS``) by name; this engine knows nothing about any particular lab.
"""

import dataclasses
import functools
import html
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import markdown

from learnlab.quiz.bank import EXAM_POINTS

LAB_DIR = Path(__file__).parent / "content"
SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
WAYS = ("console", "cli")
# What a lab's text may say of the learner's own sandbox, filled in when the page is shown:
# ``{clock_speed}`` (the lab clock's speed, 60) and ``{lab_hour}`` (a lab-hour in real time).
PLACEHOLDERS = ("clock_speed", "lab_hour")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
# What a lab's snippets may show as an example the learner's own replaces (``[examples]``):
# the diagram's facts, as checks report them.
EXAMPLE_FACTS = ("instance",)
SNIPPET = re.compile(r"<pre><code( class=\"[^\"]*\")?>(.*?)</code></pre>", re.DOTALL)


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
    if not SLUG.match(raw["slug"]):
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
    )


def lab_parse(text: str, *, where: str, registries: dict) -> Lab:
    """One lab from its TOML text; ``registries`` maps checks, forms and diagrams to names."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise LabError(f"{where}: not valid TOML: {error}") from error
    for field in ("slug", "title", "summary", "steps"):
        if not data.get(field):
            raise LabError(f"{where}: missing {field}")
    if not SLUG.match(data["slug"]):
        raise LabError(f"{where}: slug must be lower-case words joined by hyphens")
    diagram = data.get("diagram", "")
    if diagram and diagram not in registries["diagrams"]:
        raise LabError(f"{where}: unknown diagram {diagram!r}")
    examples = data.get("examples", {})
    if not isinstance(examples, dict) or set(examples) - set(EXAMPLE_FACTS):
        raise LabError(
            f"{where}: examples must be a table of {', '.join(EXAMPLE_FACTS)} to example values"
        )
    unknown = set(data) - {"slug", "title", "summary", "diagram", "steps", "examples"}
    if unknown:
        raise LabError(f"{where}: unknown fields {sorted(unknown)}")
    steps = tuple(_step(raw, n, where, registries) for n, raw in enumerate(data["steps"], 1))
    slugs = [s.slug for s in steps]
    if len(set(slugs)) != len(slugs):
        raise LabError(f"{where}: step slugs must be unique")
    return Lab(data["slug"], data["title"], data["summary"].strip(), diagram, steps, examples)


def registries() -> dict:
    from learnlab.labs.checks import CHECKS
    from learnlab.labs.console import FORMS
    from learnlab.labs.diagrams import DIAGRAMS

    return {"checks": CHECKS, "forms": FORMS, "diagrams": DIAGRAMS}


def labs_all() -> dict[str, Lab]:
    """Every lab in the content folder (``LAB_DIR``), by slug, in file-name order."""
    return _labs_in(LAB_DIR)


@functools.cache
def _labs_in(directory: Path) -> dict[str, Lab]:
    labs: dict[str, Lab] = {}
    for path in sorted(directory.glob("*.toml")):
        lab = lab_parse(path.read_text(), where=path.name, registries=registries())
        if lab.slug in labs:
            raise LabError(f"{path.name}: a lab with slug {lab.slug!r} already exists")
        labs[lab.slug] = lab
    return labs


def lab_get(slug: str) -> Lab | None:
    return labs_all().get(slug)
