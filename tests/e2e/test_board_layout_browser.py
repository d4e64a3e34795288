"""Real Chromium at a phone's width (390 px) and a laptop's (1280 px): the instructor's board
and one learner's read-only view overflow nothing sideways, whatever names, mistakes and
terminal lines the learners brought (a 60-character name with no space, a long AWS error, a
long command): the board's table scrolls in its own box, the page itself never does; axe clean.
"""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from playwright.sync_api import expect

from learnlab.classroom.models import Membership
from learnlab.classroom.services import (
    classroom_announce,
    classroom_create,
    classroom_join,
    instructor_grant,
    membership_stuck,
)
from learnlab.learners.models import Learner
from learnlab.quiz.models import LabMistake
from learnlab.quiz.services import lab_mistake_record
from learnlab.sandbox.models import Sandbox
from learnlab.terminal.services import shell_open, shell_run
from tests.e2e.axe import axe_violations

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTHS = [390, 1280]
HEIGHT = 844
LONG_NAME = "Maximiliana" + "x" * 49  # 60 characters, the longest display name, no space

# The page's own sideways overflow, and every element of main whose box leaves main's.
PAGE_OVERFLOWS = """() => {
  const out = [];
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth) {
    out.push(`the page is ${root.scrollWidth} px wide in a ${window.innerWidth} px window`);
  }
  const main = document.querySelector('main').getBoundingClientRect();
  const boxes = 'main > *, main h1, main pre, .board-grid, .mistakes li';
  for (const el of document.querySelectorAll(boxes)) {
    if (!el.getClientRects().length) continue;
    const box = el.getBoundingClientRect();
    if (box.left < main.left - 0.5 || box.right > main.right + 0.5) {
      out.push(`${el.tagName.toLowerCase()}.${el.className} [${box.left}, ${box.right}]`
        + ` outside main [${main.left}, ${main.right}]`);
    }
  }
  return out;
}"""


@pytest.fixture
def classroom(sandbox_server):
    user = get_user_model().objects.create_user(username="ada", password="x-Secret-42!")
    instructor_grant(user=user)
    classroom = classroom_create(instructor=user, name="Tuesday lab")
    classroom_announce(classroom=classroom, text="Step 3 next: launch with the profile.")
    for name in (LONG_NAME, "Bo"):
        learner = Learner.objects.create()
        membership = classroom_join(classroom=classroom, learner=learner, display_name=name)
        lab_mistake_record(
            learner=learner,
            lab=classroom.lab,
            step=1,
            points=["EP01"],
            source=LabMistake.Source.CONSOLE,
            reason="MalformedPolicyDocument",
            message="Syntax errors in policy: arn:aws:iam::aws:policy/" + "NoSuchPolicy" * 12,
        )
    membership_stuck(membership=membership, step=2)
    first = Membership.objects.get(display_name=LONG_NAME)
    shell = shell_open(sandbox=Sandbox.objects.get(learner=first.learner))
    shell_run(shell=shell, line="echo " + "arn:aws:iam::123456789012:role/" + "r" * 150)
    return user, classroom, first


def _signed_in(browser, live_server, user):
    client = Client()
    client.force_login(user)
    context = browser.new_context()
    host = live_server.url.split("//", 1)[1].split(":")[0]
    context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "domain": host,
                "path": "/",
            }
        ]
    )
    return context


@pytest.mark.parametrize("width", WIDTHS)
def test_the_board_and_a_learners_view_overflow_nothing_sideways(
    live_server, browser, classroom, width
):
    user, room, first = classroom
    context = _signed_in(browser, live_server, user)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_viewport_size({"width": width, "height": HEIGHT})

    page.goto(f"{live_server.url}/class/teach/{room.code}/")
    expect(page.get_by_test_id("board").locator("tbody tr")).to_have_count(2)
    expect(page.get_by_test_id("mistake").first).to_contain_text("MalformedPolicyDocument")
    expect(page.locator(".badge-ask")).to_contain_text("asked for help on step 2")
    assert page.evaluate(PAGE_OVERFLOWS) == []
    grid = page.locator(".board-grid")
    assert grid.evaluate("el => getComputedStyle(el).overflowX") == "auto"
    # The name wraps in its cell rather than stretching the table by its whole length.
    name_cell = page.get_by_test_id("board").locator("tbody th[scope=row]").first
    assert name_cell.evaluate("el => getComputedStyle(el).overflowWrap") == "anywhere"
    assert axe_violations(page) == []

    page.goto(f"{live_server.url}/class/teach/{room.code}/learners/{first.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Maximiliana")
    expect(page.get_by_test_id("learner-terminal")).to_contain_text("role/rrrr")
    assert page.evaluate(PAGE_OVERFLOWS) == []
    assert axe_violations(page) == []
    assert errors == []
    context.close()
