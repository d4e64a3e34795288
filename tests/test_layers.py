"""The apps' layers, read from the code: each app imports only apps in layers below its own, and
never from inside a function to dodge a cycle. DEVELOPERS.md ("Layers") draws this order."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "learnlab"

# Lowest first. An app may import any app in a lower layer, none in its own or a higher one.
LAYERS = (
    ("lib",),
    ("learners",),
    ("live",),
    ("sandbox",),
    ("denials",),
    ("gate",),
    ("imds",),
    ("quiz", "terminal", "ticker"),
    ("labs",),
    ("classroom", "embed", "explain"),
    ("accounts", "lti"),
    ("site",),
)
LAYER_OF = {app: level for level, apps in enumerate(LAYERS) for app in apps}

# Imports of another app from inside a function that must stay there, each with its reason,
# as {("learnlab/<app>/<file>.py", "learnlab.<app>.<module>"): "why"}. None is needed today:
# Django's app loading would be the one reason (in an AppConfig.ready, say).
FUNCTION_IMPORTS_ALLOWED: dict[tuple[str, str], str] = {}


def imports_in(source: str, *, package: str) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every import in ``source``, a module of
    ``package`` (to resolve relative imports); ``from a import b`` counts as a.b too, so
    ``from learnlab import ticker`` names the app."""
    found = []

    def visit(node, in_function: bool):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
            )
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parent = package.rsplit(".", child.level - 1)[0] if child.level > 1 else package
                    base = f"{parent}.{base}" if base else parent
                found.append((base, child.lineno, in_function))
                found.extend((f"{base}.{a.name}", child.lineno, in_function) for a in child.names)
            visit(child, inside)

    visit(ast.parse(source), False)
    return found


def app_of(dotted: str) -> str | None:
    """The app a dotted module name belongs to; None outside the apps (the project's settings,
    urls and wsgi wire the apps together and sit outside the layers, as do other packages)."""
    parts = dotted.split(".")
    if len(parts) < 2 or parts[0] != "learnlab" or not (PACKAGE / parts[1]).is_dir():
        return None
    return parts[1]


def app_imports() -> list[dict]:
    """Every import from one app of another, as found in learnlab/**.py."""
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(ROOT)
        package = ".".join(relative.parent.parts)
        source_app = app_of(package)
        if source_app is None:
            continue
        seen = set()
        for imported, line, in_function in imports_in(path.read_text(), package=package):
            target = app_of(imported)
            if target is None or target == source_app or (line, target) in seen:
                continue
            seen.add((line, target))
            edges.append(
                {
                    "file": relative.as_posix(),
                    "line": line,
                    "module": imported,
                    "source": source_app,
                    "target": target,
                    "in_function": in_function,
                }
            )
    return edges


@pytest.fixture(scope="module")
def edges():
    return app_imports()


def test_every_app_has_a_layer():
    on_disk = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert on_disk == set(LAYER_OF), "place new apps in LAYERS (and in DEVELOPERS.md's picture)"


def test_the_graph_holds_imports_of_every_kind(edges):
    """Against a reader that finds nothing: the graph has the imports we know are there."""
    pairs = {(e["source"], e["target"]) for e in edges}
    assert {("gate", "sandbox"), ("labs", "gate"), ("accounts", "classroom")} <= pairs
    assert {e["source"] for e in edges} == set(LAYER_OF) - {"lib"}


def test_no_app_imports_an_app_in_its_own_layer_or_above(edges):
    upward = [
        f"{e['file']}:{e['line']} ({e['source']}) imports {e['module']} ({e['target']})"
        for e in edges
        if LAYER_OF[e["target"]] >= LAYER_OF[e["source"]]
    ]
    assert not upward, "imports that run upward or sideways:\n" + "\n".join(upward)


def test_no_import_of_another_app_hides_inside_a_function(edges):
    hidden = [
        f"{e['file']}:{e['line']} imports {e['module']} inside a function"
        for e in edges
        if e["in_function"] and (e["file"], e["module"]) not in FUNCTION_IMPORTS_ALLOWED
    ]
    assert not hidden, "move these to the top of their module:\n" + "\n".join(hidden)


def test_every_allowed_function_import_still_exists(edges):
    found = {(e["file"], e["module"]) for e in edges if e["in_function"]}
    assert set(FUNCTION_IMPORTS_ALLOWED) <= found, "drop allowances that no longer apply"


def test_the_reader_sees_imports_at_module_level_in_functions_and_relative():
    source = (
        "from learnlab import ticker\n"
        "from . import services\n"
        "def f():\n"
        "    from learnlab.gate.client import aws_client\n"
        "class C:\n"
        "    def m(self):\n"
        "        import learnlab.imds.models\n"
    )
    found = imports_in(source, package="learnlab.sandbox")
    assert ("learnlab.ticker", 1, False) in found
    assert ("learnlab.sandbox.services", 2, False) in found
    assert ("learnlab.gate.client", 4, True) in found
    assert ("learnlab.imds.models", 7, True) in found


def test_developers_md_draws_the_layers_in_this_order():
    """The picture in DEVELOPERS.md, highest layer first, one layer a line, peers joined by
    " · ", each followed by what it holds."""
    text = (ROOT / "DEVELOPERS.md").read_text()
    section = text.split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    picture = section.split("```text\n", 1)[1].split("```", 1)[0]
    drawn = [
        tuple(re.split(r"\s+·\s+", re.split(r"\s{2,}", line.strip())[0]))
        for line in picture.splitlines()
        if line.strip()
    ]
    assert drawn[::-1] == list(LAYERS)
