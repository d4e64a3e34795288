"""Real Chromium at a phone's width (390 px) and a laptop's (1280 px), issue 15.7: on the lab
page, the credentials page and the sandbox page nothing overlaps the step list and nothing
overflows (checked on element boxes, never on pixels), the terminal is a key away, focus follows
the result of what the learner asked for, and axe finds nothing.

Set LAYOUT_SHOTS=/some/dir to keep a screenshot of each page there, to look at (never commit).
"""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from learnlab.imds.credentials import credentials_issue
from learnlab.imds.models import InstanceCredentials
from learnlab.sandbox.models import Sandbox
from tests.e2e.axe import axe_violations
from tests.helpers import launch_with_role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTHS = [390, 1280]
# The lab page also between the two, where the step list is a sticky column beside the steps.
LAB_WIDTHS = [390, 1024, 1280]
HEIGHT = 844  # a phone's viewport height; the laptop gets the same, a short screen
MIN_TEXT_PX = 11

# Every select, pre and table on screen that sticks out of its parent's box, and the page's own
# sideways overflow.
OVERFLOWS = """() => {
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : '');
  const out = [];
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth) {
    out.push(`the page is ${root.scrollWidth} px wide in a ${window.innerWidth} px window`);
  }
  for (const el of document.querySelectorAll('main select, main pre, main table')) {
    if (!el.getClientRects().length) continue;  // not rendered (a closed details)
    const box = el.getBoundingClientRect();
    const parent = el.parentElement.getBoundingClientRect();
    if (box.left < parent.left - 0.5 || box.right > parent.right + 0.5) {
      out.push(`${name(el)} [${box.left}, ${box.right}] outside ${name(el.parentElement)}`
        + ` [${parent.left}, ${parent.right}]`);
    }
  }
  return out;
}"""

# The lab's text (steps, diagram, terminal) whose boxes overlap the step list's box, at the
# current scroll position.
OVER_THE_STEP_LIST = """() => {
  const nav = document.querySelector('.lab-steps').getBoundingClientRect();
  const out = [];
  const text = '.lab-main p, .lab-main li, .lab-main h2, .lab-main h3, .lab-main pre,'
    + ' .lab-main label, .lab-main button, .lab-main svg, .lab-terminal h2, .lab-terminal p,'
    + ' .lab-terminal pre, .lab-terminal textarea';
  for (const el of document.querySelectorAll(text)) {
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    if (r.left < nav.right && r.right > nav.left && r.top < nav.bottom && r.bottom > nav.top) {
      out.push(`${el.tagName} "${el.textContent.trim().slice(0, 40)}" at y=${Math.round(r.top)}`);
    }
  }
  return out;
}"""

# Text drawn in an SVG, as rendered: its font size times the SVG's scale, in CSS pixels.
SVG_TEXT_SIZES = """(selector) => {
  const svg = document.querySelector(selector);
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  return [...svg.querySelectorAll('text')].map((t) => [
    t.textContent.trim(), parseFloat(getComputedStyle(t).fontSize) * scale]);
}"""


def _shot(page, name: str) -> None:
    folder = os.environ.get("LAYOUT_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _scroll_positions(page):
    """Scroll through the whole page, most of a screen at a time, yielding at each stop."""
    height = page.evaluate("document.documentElement.scrollHeight")
    for y in range(0, height, int(HEIGHT * 0.75)):
        page.evaluate(f"window.scrollTo(0, {y})")
        yield y


def _focused_inside(page, selector: str) -> bool:
    return page.evaluate(
        "(selector) => Boolean(document.activeElement?.closest(selector))", selector
    )


@pytest.fixture
def browser_page(page):
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    return page


def _open_sandbox(page, live_server, width: int) -> Sandbox:
    page.set_viewport_size({"width": width, "height": HEIGHT})
    page.goto(live_server.url + "/sandbox/")
    expect(page.get_by_test_id("account-id")).to_be_visible(timeout=10_000)
    return Sandbox.objects.get()


@pytest.mark.parametrize("width", LAB_WIDTHS)
def test_the_lab_page_keeps_the_step_list_off_the_text_and_the_terminal_a_key_away(
    live_server, sandbox_server, browser_page, width
):
    page = browser_page
    sandbox = _open_sandbox(page, live_server, width)
    launch_with_role(sandbox, "app-with-a-name-as-long-as-learners-give-them")
    page.goto(live_server.url + "/lab/instance-role/")
    expect(page.locator("#terminal-line")).to_be_attached()

    # Every console form open, its fields read from the sandbox (selects of roles, AMIs...).
    closed = page.locator("details.console:not([open]) > summary")
    while closed.count():
        closed.first.click()
    expect(page.locator(".console-fields[data-stale]")).to_have_count(0, timeout=20_000)

    # The diagram's text is legible: at least ~11 CSS px as drawn, at both widths.
    sizes = page.evaluate(SVG_TEXT_SIZES, "svg.diagram")
    assert sizes
    small = [(text, round(size, 1)) for text, size in sizes if size < MIN_TEXT_PX - 0.05]
    assert small == [], f"diagram text under {MIN_TEXT_PX} px at {width} px: {small}"

    for y in _scroll_positions(page):
        assert page.evaluate(OVER_THE_STEP_LIST) == [], f"under the step list, scrolled to {y}"
    assert page.evaluate(OVERFLOWS) == []

    # The terminal is a key away: the link near the top names the shortcut; "/" outside a field
    # puts the caret in the terminal's input, on screen.
    page.evaluate("window.scrollTo(0, 0)")
    jump = page.get_by_role("link", name="Jump to the terminal")
    expect(jump).to_be_in_viewport()
    expect(page.locator(".lab-jump")).to_contain_text("press / anywhere you are not typing")
    page.locator("h1").click()
    page.keyboard.press("/")
    line = page.locator("#terminal-line")
    expect(line).to_be_focused()
    expect(line).to_be_in_viewport()
    assert line.input_value() == ""
    # In a field, "/" is just a character.
    role_name = page.locator("#console-role_for_ec2").get_by_label("Role name")
    role_name.fill("")
    role_name.press("/")
    expect(role_name).to_be_focused()
    expect(role_name).to_have_value("/")
    # The link does the same.
    page.evaluate("window.scrollTo(0, 0)")
    jump.click()
    expect(line).to_be_focused()
    expect(line).to_be_in_viewport()

    # A terminal command keeps the caret in the terminal.
    line.fill("help")
    line.press("Enter")
    expect(page.locator("#terminal-log")).to_contain_text("aws", timeout=10_000)
    expect(line).to_be_focused()

    # Check: focus lands on the result.
    page.get_by_role("button", name="Check step 1").click()
    expect(page.get_by_test_id("check-1")).to_be_visible(timeout=10_000)
    expect(page.get_by_test_id("check-1")).to_be_focused()

    # A console form: a bad name puts focus on the alert saying nothing was made and what to
    # fix (the field is marked invalid); a good one on the notice saying what was done.
    form = page.locator("#console-role_for_ec2")
    form.get_by_label("Role name").fill("has spaces")
    form.get_by_role("button", name="Create role").click()
    outcome = page.get_by_test_id("console-outcome")
    expect(outcome).to_be_visible(timeout=10_000)
    expect(outcome).to_be_focused()
    expect(page.locator("#console-role_for_ec2 [aria-invalid=true]")).to_have_count(1)
    page.locator("#console-role_for_ec2").get_by_label("Role name").fill("S3ReadForEC2")
    page.locator("#console-role_for_ec2").get_by_role("button", name="Create role").click()
    done = page.get_by_test_id("console-done")
    expect(done).to_be_visible(timeout=15_000)
    expect(done).to_be_focused()

    # What the form did (API calls, CLI lines with ARNs) stays inside its box too, and so do
    # the step list's own menus (Reset, Rewind) opened.
    expect(page.locator("#console-role_for_ec2 .calls pre").first).to_be_visible()
    assert page.evaluate(OVERFLOWS) == []
    _shot(page, f"lab-calls-{width}")
    page.reload()
    page.evaluate(
        "document.querySelectorAll('.lab-steps details').forEach((d) => { d.open = true; })"
    )
    assert page.evaluate(OVERFLOWS) == []
    for y in _scroll_positions(page):
        assert page.evaluate(OVER_THE_STEP_LIST) == [], f"under the step list, scrolled to {y}"
    _shot(page, f"lab-{width}")
    assert axe_violations(page) == []
    assert page.errors == []


def _credentials_story(sandbox: Sandbox, instance_id: str) -> None:
    """Test data: four sets spread over the timeline's window (-6 to +2 min at 60x), one of
    each kind: expired, withdrawn, handed out earlier (valid), current."""
    now = timezone.now()

    def issue(ago: int, lifetime: int):
        return credentials_issue(
            sandbox=sandbox,
            instance_id=instance_id,
            role_name="app",
            now=now - timedelta(seconds=ago),
            lifetime=timedelta(seconds=lifetime),
        )

    issue(330, 180)  # expired 150 s ago
    withdrawn = issue(270, 1860)
    InstanceCredentials.objects.filter(pk=withdrawn.pk).update(
        superseded_at=now - timedelta(seconds=240), forgotten_at=now - timedelta(seconds=200)
    )
    valid = issue(180, 1860)
    InstanceCredentials.objects.filter(pk=valid.pk).update(
        superseded_at=now - timedelta(seconds=60)
    )
    issue(60, 1860)  # current


# The timeline as drawn: each text's box, the bars' boxes and colours, the scroll box's box.
TIMELINE = """() => {
  const svg = document.querySelector('svg.timeline');
  const box = (el) => { const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
  const texts = [...svg.querySelectorAll('text')].map((t) => ({
    text: t.textContent.trim(), cls: t.getAttribute('class') || '', ...box(t),
    fill: getComputedStyle(t).fill}));
  const bars = [...svg.querySelectorAll('rect.set')].map((r) => ({
    cls: r.getAttribute('class'), ...box(r), fill: getComputedStyle(r).fill,
    stroke: getComputedStyle(r).stroke}));
  return {svg: box(svg), scroller: box(svg.parentElement), texts, bars,
    gutter: box(svg.querySelector('.timeline-gutter')),
    background: getComputedStyle(svg).backgroundColor};
}"""


def _luminance(css: str) -> float:
    channels = [int(part) / 255 for part in css[css.index("(") + 1 : css.index(")")].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(one: str, other: str) -> float:
    lighter, darker = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _overlap(a: dict, b: dict) -> bool:
    return (
        a["left"] < b["right"] - 0.5
        and b["left"] < a["right"] - 0.5
        and a["top"] < b["bottom"] - 0.5
        and b["top"] < a["bottom"] - 0.5
    )


def _inside(inner: dict, outer: dict) -> bool:
    return inner["left"] >= outer["left"] - 0.5 and inner["right"] <= outer["right"] + 0.5


@pytest.mark.parametrize("width", WIDTHS)
def test_the_credentials_timeline_has_an_axis_a_legend_and_labels_that_fit_and_read(
    live_server, sandbox_server, browser_page, settings, width
):
    """Contrast as WCAG 2.2 measures it: 4.5:1 for text (1.4.3), 3:1 for the bars (1.4.11)."""
    settings.LEARNLAB_CLOCK_SPEED = 60
    page = browser_page
    sandbox = _open_sandbox(page, live_server, width)
    instance_id = launch_with_role(sandbox, "app")
    _credentials_story(sandbox, instance_id)
    page.goto(f"{live_server.url}/sandbox/instances/{instance_id}/")
    expect(page.locator("svg.timeline rect.set")).to_have_count(4)

    legend = page.get_by_role("list", name="Timeline legend").get_by_role("listitem")
    expect(legend).to_have_count(5)
    expect(page.get_by_text("Bars: ")).to_have_count(0)  # the legend replaced the sentence

    drawn = page.evaluate(TIMELINE)
    texts = {t["text"]: t for t in drawn["texts"]}
    # An axis: a tick a renewal (every minute at 60x) from 6 before now to 2 after.
    ticks = [t["text"] for t in drawn["texts"] if "timeline-tick" in t["cls"]]
    minus = "\N{MINUS SIGN}"
    assert ticks == [*(f"{minus}{n} min" for n in range(6, 0, -1)), "now", "+1 min", "+2 min"]
    # Labels fit: inside the drawing, none over another; a label on a bar inside that bar.
    for text in drawn["texts"]:
        assert drawn["svg"]["left"] - 0.5 <= text["left"], text
        assert text["right"] <= drawn["svg"]["right"] + 0.5, text
    # What is drawn: the key ids' column, and what is beside it in the scrolling box's view
    # (the rest scrolls under the column or out of the box).
    gutter = drawn["gutter"]
    shown = [
        t
        for t in drawn["texts"]
        if "timeline-key" in t["cls"]
        or (t["left"] >= gutter["right"] - 0.5 and t["right"] <= drawn["scroller"]["right"] + 0.5)
    ]
    for i, one in enumerate(shown):
        for other in shown[i + 1 :]:
            assert not _overlap(one, other), (one["text"], other["text"])
    on_bars = [t for t in drawn["texts"] if "on-bar" in t["cls"]]
    assert on_bars, "the live sets' expiry is written on their bars"
    for text in on_bars:
        bar = next(b for b in drawn["bars"] if _overlap(text, b))
        assert _inside(text, bar), (text["text"], bar["cls"])
        assert _contrast(text["fill"], bar["fill"]) >= 4.5, (text, bar)
    # Readable: 11 px or more as drawn; bars stand out from the background at 3:1.
    for text, size in page.evaluate(SVG_TEXT_SIZES, "svg.timeline"):
        assert size >= MIN_TEXT_PX - 0.05, (text, size)
    for bar in drawn["bars"]:
        best = max(_contrast(bar["fill"], drawn["background"]), _contrast(bar["stroke"],
                   drawn["background"]))  # fmt: skip
        assert best >= 3, bar
    assert sorted(b["cls"] for b in drawn["bars"]) == [
        "set", "set set-current", "set set-expired", "set set-withdrawn",
    ]  # fmt: skip

    # On a phone it scrolls in its own box: the page does not; the key ids stay in view.
    assert page.evaluate(OVERFLOWS) == []
    keys = [t for t in drawn["texts"] if "timeline-key" in t["cls"]]
    assert len(keys) == 5  # the column's heading and one a set
    for key in keys:
        assert _inside(key, drawn["scroller"]), key
    assert _inside(texts["now"], drawn["scroller"])
    if width == 390:
        scroller = page.locator("#timeline-scroll")
        assert page.evaluate("document.getElementById('timeline-scroll').scrollLeft") > 0
        # Scrolled back to the start by the learner, it stays there through the next refresh.
        # The page refreshes on a change, its set's deadline or a 60 s safety poll (live.js), none
        # of them due within the test: the learner acting on the page ("lab-changed") brings one.
        scroller.evaluate(
            "(box) => { box.scrollLeft = 0; box.dispatchEvent(new Event('scroll')); }"
        )
        page.evaluate("document.getElementById('credentials-panel').dataset.old = 'yes'")
        page.evaluate("document.dispatchEvent(new CustomEvent('lab-changed'))")
        expect(page.locator("#credentials-panel[data-old]")).to_have_count(0, timeout=5_000)
        assert scroller.evaluate("(box) => box.scrollLeft") == 0
        for key in [t for t in page.evaluate(TIMELINE)["texts"] if "timeline-key" in t["cls"]]:
            assert _inside(key, drawn["scroller"]), key
    _shot(page, f"credentials-{width}")
    assert axe_violations(page) == []
    assert page.errors == []


@pytest.mark.parametrize("width", WIDTHS)
def test_the_sandbox_page_fits_and_focus_follows_its_terminal_line_form(
    live_server, sandbox_server, browser_page, width
):
    page = browser_page
    _open_sandbox(page, live_server, width)
    assert page.evaluate(OVERFLOWS) == []
    page.get_by_role("button", name="Make my terminal line").click()
    expect(page.get_by_test_id("token-line")).to_be_visible(timeout=10_000)
    assert _focused_inside(page, "#sandbox-panel")
    assert page.evaluate("document.activeElement.matches('.notice, h2')")
    assert page.evaluate(OVERFLOWS) == []
    # The Copy buttons sit beside their lines, never over them.
    line = page.get_by_test_id("token-line").bounding_box()
    copy = page.locator("[data-copy-target=token-line]").bounding_box()
    assert copy["y"] >= line["y"] + line["height"] or copy["x"] >= line["x"] + line["width"]
    _shot(page, f"sandbox-{width}")
    assert axe_violations(page) == []
    assert page.errors == []


def test_a_quiz_answer_puts_focus_on_its_verdict_and_next_on_the_next_question(
    live_server, browser_page
):
    page = browser_page
    page.set_viewport_size({"width": 390, "height": HEIGHT})
    page.goto(live_server.url + "/quiz/practice/")
    page.locator(".options input").first.check()
    page.get_by_role("button", name="Check my answer").click()
    expect(page.locator("#verdict")).to_be_focused()
    page.get_by_role("link", name="Next question").click()
    expect(page.locator("main form legend.stem")).to_be_visible()
    expect(page.locator("main h1")).to_be_focused()
    assert page.evaluate(OVERFLOWS) == []
    assert axe_violations(page) == []

    # An exam at a laptop's width: each "Save and next" lands on the next question's heading.
    page.set_viewport_size({"width": 1280, "height": HEIGHT})
    page.goto(live_server.url + "/quiz/")
    page.get_by_role("button", name="Start the exam").click()
    expect(page.locator("main h1")).to_contain_text("question 1 of")
    page.locator(".options input").first.check()
    page.get_by_role("button", name="Save and next").click()
    heading = page.locator("main h1")
    expect(heading).to_contain_text("question 2 of")
    expect(heading).to_be_focused()
    assert page.evaluate(OVERFLOWS) == []
    assert axe_violations(page) == []
    assert page.errors == []


@pytest.mark.parametrize("width", WIDTHS)
def test_the_home_page_fits(live_server, browser_page, width):
    page = browser_page
    page.set_viewport_size({"width": width, "height": HEIGHT})
    page.goto(live_server.url + "/")
    assert page.evaluate(OVERFLOWS) == []
    _shot(page, f"home-{width}")
    assert axe_violations(page) == []
    assert page.errors == []
