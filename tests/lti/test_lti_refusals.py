"""Two LTI refusals: a Deep Linking pick naming a step the lab does not have is refused (it
used to link the whole lab, silently), and the instructor's class-board link signs in once (a
copy of it, within its five minutes, signs nobody in)."""

import re

import pytest
import requests

from learnlab.labs.catalog import lab_get
from tests.lti.platform import INSTRUCTOR
from tests.lti.test_lti_platform import (  # noqa: F401 (the fixture)
    _launch,
    _open_board,
    platform,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _pick(platform, live_server, step: str) -> requests.Response:  # noqa: F811
    page, _ = _launch(platform, user="teacher-1", roles=[INSTRUCTOR], name="Grace", deep_link=True)
    assert page.status_code == 200, page.text[:500]
    token = re.search(r'name="token" value="([^"]+)"', page.text)[1]
    return requests.post(
        f"{live_server.url}/lti/deep-link/",
        data={"token": token, "lab": "instance-role", "step": step},
        timeout=30,
    )


def test_a_deep_link_to_an_unknown_step_is_refused(platform, live_server):  # noqa: F811
    answer = _pick(platform, live_server, "no-such-step")

    assert answer.status_code == 400
    assert "has no such step: pick one of its steps listed" in answer.text
    assert 'name="JWT"' not in answer.text


def test_a_deep_link_to_a_known_step_links_that_step(platform, live_server):  # noqa: F811
    step = lab_get("instance-role").steps[1]
    answer = _pick(platform, live_server, step.slug)

    assert answer.status_code == 200, answer.text[:500]
    action = re.search(r'action="([^"]+)"', answer.text)[1]
    jwt_value = re.search(r'name="JWT" value="([^"]+)"', answer.text)[1]
    saved = requests.post(action, data={"JWT": jwt_value}, timeout=30)
    assert saved.json() == {"saved": 1}
    assert platform.deep_link_items[0]["custom"] == {
        "learnlab_lab": "instance-role",
        "learnlab_step": step.slug,
    }


def test_the_board_link_signs_in_once(platform, live_server):  # noqa: F811
    instructor = requests.Session()
    page, _ = _launch(platform, instructor, user="teacher-1", roles=[INSTRUCTOR], name="Grace")
    assert page.status_code == 200, page.text[:500]
    board_url = live_server.url + re.search(r'href="(/lti/board/[^"]+)"', page.text)[1]

    # Opening it signs nobody in: it asks, naming the account and the class.
    asked = instructor.get(board_url, timeout=60, allow_redirects=False)
    assert asked.status_code == 200 and "Continue as <strong>Grace</strong>" in asked.text
    assert "instructor of <strong>IAM 101</strong>" in asked.text
    assert "signed in as" not in asked.text  # nobody is, in this browser
    assert (
        instructor.get(f"{live_server.url}/class/teach/", allow_redirects=False).status_code == 302
    )
    # The button's POST is CSRF-checked: one without the form's token signs nobody in.
    forged = requests.post(board_url, timeout=60, allow_redirects=False)
    assert forged.status_code == 403 and "sessionid" not in forged.cookies

    first = _open_board(instructor, board_url)
    assert first.status_code == 200 and "/class/teach/" in first.url, first.text[:300]

    # The same link in another browser, well within its five minutes: nobody is signed in.
    copied = requests.Session()
    again = copied.get(board_url, timeout=60, allow_redirects=False)
    assert again.status_code == 403
    assert "already used: each works once" in again.text
    assert "sessionid" not in copied.cookies
    assert copied.get(first.url, timeout=60, allow_redirects=False).status_code == 302

    # The browser it signed in can open it again (it is that instructor already).
    reopened = instructor.get(board_url, timeout=60)
    assert reopened.status_code == 200 and reopened.url == first.url


def test_a_board_link_opened_while_signed_in_as_another_account_says_so(
    platform,  # noqa: F811
    live_server,
    django_user_model,
):
    """A browser signed in as someone else is told so, stays that account until it chooses,
    and the explicit choice (the button) switches it."""
    django_user_model.objects.create_user("vic", password="a-long-enough-password-42")
    browser = requests.Session()
    form = browser.get(f"{live_server.url}/accounts/login/", timeout=30)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)[1]
    browser.post(
        f"{live_server.url}/accounts/login/",
        data={
            "username": "vic",
            "password": "a-long-enough-password-42",
            "csrfmiddlewaretoken": csrf,
        },
        timeout=30,
    )
    page, _ = _launch(platform, user="teacher-2", roles=[INSTRUCTOR], name="Mallory")
    board_url = live_server.url + re.search(r'href="(/lti/board/[^"]+)"', page.text)[1]

    asked = browser.get(board_url, timeout=60)
    assert 'data-testid="lti-board-other"' in asked.text
    assert "signed in as <strong>vic</strong>" in asked.text and "Stay as vic" in asked.text
    assert (
        "Signed in as <strong>vic</strong>"
        in browser.get(f"{live_server.url}/accounts/account/", timeout=30).text
    )

    switched = _open_board(browser, board_url)
    assert switched.status_code == 200 and "/class/teach/" in switched.url
    assert (
        "Signed in as <strong>vic</strong>"
        not in browser.get(f"{live_server.url}/accounts/account/", timeout=30).text
    )
