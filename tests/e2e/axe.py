"""axe-core, vendored in tests/e2e/vendor/, run inside a Playwright page."""

from pathlib import Path

AXE = (Path(__file__).parent / "vendor" / "axe-4.14.1.min.js").read_text()


def axe_violations(page) -> list[str]:
    """Inject axe-core (through the devtools protocol, so the page's CSP still applies to the
    page's own code) and return its violations as readable lines."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE)
    results = page.evaluate("window.axe.run(document)")
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes, e.g. {v['nodes'][0]['html'][:120]})"
        for v in results["violations"]
    ]
