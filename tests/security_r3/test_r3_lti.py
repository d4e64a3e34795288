"""Red team R3: the LTI class-board link (single use) and the Deep Linking refusal, against the
real test platform of tests/lti (a browser per party, over HTTP to the live server)."""

import re

import pytest
import requests
from django.contrib.auth import get_user_model

from tests.lti.platform import INSTRUCTOR, LEARNER
from tests.lti.test_lti_platform import _launch, platform  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-enough-password-42"


def _board_link(platform, live_server) -> str:  # noqa: F811
    """An instructor's launch; the board link on the page it answers, not followed."""
    page, _ = _launch(platform, user="teacher-9", roles=[INSTRUCTOR], name="Mallory")
    assert page.status_code == 200, page.text[:500]
    return live_server.url + re.search(r'href="(/lti/board/[^"]+)"', page.text)[1]


def _signed_in(live_server, username: str) -> requests.Session:
    browser = requests.Session()
    form = browser.get(f"{live_server.url}/accounts/login/", timeout=30)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)[1]
    done = browser.post(
        f"{live_server.url}/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{live_server.url}/accounts/login/"},
        allow_redirects=False,
        timeout=30,
    )
    assert done.status_code == 302, done.text[:500]
    return browser


def _who(browser: requests.Session, live_server) -> str:
    page = browser.get(f"{live_server.url}/accounts/account/", timeout=30)
    found = re.search(r"Signed in as <strong>([^<]+)</strong>", page.text)
    return found[1] if found else ""


def test_an_unused_board_link_does_not_silently_sign_a_victim_into_the_attackers_account(
    platform,  # noqa: F811
    live_server,
):
    """Attack: Mallory, an instructor on any platform, launches and copies her board link
    without opening it, then gets a signed-in learner to open it (a link in a message, an
    <img>, a redirect from her site: it is a GET, within five minutes). Expected: a browser
    signed in as someone else is not switched silently: it is asked to confirm (a POST
    naming the account it will become), or refused; the fix: bind the link to the
    launching browser, or make /lti/board/<token> a confirmation page whose button posts.
    Today the victim's browser is signed in as Mallory's LTI account: what they do next
    (a sandbox, a class joined, the terminal token) is in her account, where she sees it."""
    get_user_model().objects.create_user("vic", password=PASSWORD)
    victim = _signed_in(live_server, "vic")
    assert _who(victim, live_server) == "vic"
    link = _board_link(platform, live_server)

    victim.get(link, timeout=60)

    assert _who(victim, live_server) == "vic"


def test_a_learner_launch_gives_no_board_link_and_a_forged_one_signs_nobody_in(
    platform,  # noqa: F811
    live_server,
):
    """Held: a learner's launch page has no board link; a board token re-signed with a guessed
    key, or a real one with its nonce cut, is refused and sets no session."""
    page, _ = _launch(platform, user="student-9", roles=[LEARNER], name="Lee")
    assert page.status_code in (200, 302), page.text[:500]
    assert "/lti/board/" not in page.text + page.headers.get("Location", "")

    link = _board_link(platform, live_server)
    token = link.rsplit("/lti/board/", 1)[1]
    value, _, signature = token.rpartition(":")
    for forged in (f"{value}:{'A' * len(signature)}", value, token[:-3] + "abc"):
        browser = requests.Session()
        answer = browser.get(
            f"{live_server.url}/lti/board/{forged}", timeout=30, allow_redirects=False
        )
        assert answer.status_code in (400, 403), (forged, answer.status_code)
        assert "Launch refused" in answer.text
        assert "Traceback" not in answer.text
        assert "sessionid" not in browser.cookies


@pytest.mark.parametrize("step", [" ", "../x", "no-such-step\x00", "STEP-1", "\u0131"])
def test_a_deep_link_pick_of_an_odd_step_is_refused(platform, live_server, step):  # noqa: F811
    """Held: an odd step value (space, path, NUL, case, dotless i) is refused in words, with no
    signed answer for the platform."""
    page, _ = _launch(platform, user="teacher-1", roles=[INSTRUCTOR], name="Grace", deep_link=True)
    assert page.status_code == 200, page.text[:500]
    token = re.search(r'name="token" value="([^"]+)"', page.text)[1]
    answer = requests.post(
        f"{live_server.url}/lti/deep-link/",
        data={"token": token, "lab": "instance-role", "step": step},
        timeout=30,
    )
    assert answer.status_code == 400, answer.text[:300]
    assert 'name="JWT"' not in answer.text and "Traceback" not in answer.text
