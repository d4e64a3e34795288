"""Real Chromium, the page's own clock under Playwright's control: static/js/live.js counts a
countdown down between refreshes, and a refresh's data-live-now (the server's clock, whole
seconds, read before the fragment was rendered and sent) never makes it go up, however late the
refresh arrives (a loaded machine: found as [14, 13, 11, 12, ...] in test_detach_browser)."""

from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.e2e

T0 = 1_700_000_000  # the server's clock, in whole seconds; the page's clock is the same
DEADLINE = T0 + 30
LIVE_JS = Path(settings.BASE_DIR) / "static" / "js" / "live.js"

FRAGMENT = """<div id="panel" data-live-topics="t" data-live-now="{now}">
  <dd data-testid="left" data-countdown="{deadline}">{left} s</dd>
  <dd data-testid="ago" data-countup="{since}">{ago} s ago</dd>
</div>"""

# Whatever the countdown ever says is recorded, as test_detach_browser's watcher does.
WATCH = """() => {
  window.__seen = [];
  const record = () => {
    const left = document.querySelector('[data-testid="left"]');
    const ago = document.querySelector('[data-testid="ago"]');
    window.__seen.push([left.textContent.trim(), ago.textContent.trim()]);
  };
  new MutationObserver(record).observe(document.body, {childList: true, subtree: true});
  record();
}"""

# A refresh as htmx swaps it (outerHTML), rendered by the server at server_ms.
SWAP = """([html]) => {
  const old = document.getElementById("panel");
  const box = document.createElement("div");
  box.innerHTML = html;
  const fresh = box.firstElementChild;
  old.replaceWith(fresh);
  fresh.dispatchEvent(new Event("htmx:after:swap", {bubbles: true}));
}"""


def _fragment(server_ms: int) -> str:
    """What the server renders at server_ms: its numbers floor the exact ones."""
    return FRAGMENT.format(
        now=server_ms // 1000,
        deadline=DEADLINE,
        left=(DEADLINE * 1000 - server_ms) // 1000,
        since=T0 - 5,
        ago=(server_ms - (T0 - 5) * 1000) // 1000,
    )


def _numbers(seen: list) -> tuple[list[int], list[int]]:
    left = [int(a.removesuffix(" s")) for a, _ in seen]
    ago = [int(b.removesuffix(" s ago")) for _, b in seen]
    return left, ago


def test_a_late_refresh_never_makes_the_countdown_go_up(page):
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.route("**/live/wait*", lambda route: route.fulfill(status=404))  # no live endpoint
    page.route("http://learnlab.test/", lambda route: route.fulfill(body="<body></body>"))
    page.clock.install(time=T0)  # seconds, in Playwright's Python API
    page.goto("http://learnlab.test/")  # any page: the route answers it
    page.clock.pause_at(T0 + 0.9)  # from here the page's clock moves only when told
    page.set_content(f"<body>{_fragment(T0 * 1000 + 900)}</body>")
    page.add_script_tag(content=LIVE_JS.read_text())
    page.evaluate(WATCH)

    def at(client_ms: int) -> None:  # the page's clock runs on to T0 + client_ms
        now = page.evaluate("Date.now()")
        page.clock.run_for(T0 * 1000 + client_ms - now)

    at(2050)
    page.evaluate(SWAP, [_fragment(T0 * 1000 + 2050)])  # a prompt refresh
    at(3800)
    page.evaluate(SWAP, [_fragment(T0 * 1000 + 2050)])  # rendered at +2.05 s, arriving 1.75 s late
    at(8000)
    page.evaluate(SWAP, [_fragment(T0 * 1000 + 7990)])  # rendered just before a second's end
    at(12_000)

    left, ago = _numbers(page.evaluate("window.__seen"))
    assert len(set(left)) >= 8, left  # it counted, a second a tick
    assert left == sorted(left, reverse=True), left
    assert ago == sorted(ago), ago
    # Never above what the server would say at that moment: at +12 s, 18 s left (30 - 12).
    assert 17 <= left[-1] <= 18, left
    assert 16 <= ago[-1] <= 17, ago
    assert errors == []
