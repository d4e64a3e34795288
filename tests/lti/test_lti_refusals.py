"""Two LTI refusals: a Deep Linking pick naming a step the lab does not have is refused (it
used to link the whole lab, silently), and the instructor's class-board link signs in once (a
copy of it, within its five minutes, signs nobody in)."""

import re

import pytest
import requests

from learnlab.labs.catalog import lab_get
from tests.lti.platform import INSTRUCTOR
from tests.lti.test_lti_platform import _launch, platform  # noqa: F401 (the fixture)

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

    first = instructor.get(board_url, timeout=60)
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
