"""Live pages: topics change where state changes, and /live/wait answers when they do.

These use Django's own answer (live.views.wait, what runserver and the test server serve);
test_wait_front.py does the same against the asyncio front of `manage.py runstack`."""

import json
import re
import threading
import time
import urllib.request

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.test import Client

from learnlab.classroom.models import Membership
from learnlab.classroom.services import (
    classroom_announce,
    classroom_create,
    classroom_reveal_hint,
    classroom_set_clock,
    instructor_grant,
    membership_stuck,
)
from learnlab.live.models import Change
from learnlab.live.selectors import topic_versions
from learnlab.live.services import SALT, topic_changed, topics_sign
from tests.helpers import LIVE_SESSION, live_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def _wait(client, token, versions):
    """The wait as the page's visitor: ``client`` carries the session the token is bound to."""
    client.cookies[settings.SESSION_COOKIE_NAME] = LIVE_SESSION
    started = time.monotonic()
    response = client.get("/live/wait", {"t": token, "v": versions})
    return response, time.monotonic() - started


def _topics_in(html: str, element_id: str) -> tuple[list[str], str]:
    tag = re.search(rf'<[^>]*id="{element_id}"[^>]*>', html).group(0)
    token = re.search(r'data-live-topics="([^"]+)"', tag).group(1)
    versions = re.search(r'data-live-versions="([^"]*)"', tag).group(1)
    return signing.loads(token, salt=SALT)["k"], versions


@pytest.fixture
def classroom(db):
    user = get_user_model().objects.create_user(username="ada", password="x-Secret-42!")
    instructor_grant(user=user)
    return classroom_create(instructor=user, name="Morning cohort")


@pytest.fixture
def join(sandbox_server):
    def run(classroom, name):
        client = Client()
        response = client.post("/class/", {"code": classroom.code, "display_name": name})
        assert response.status_code == 302
        return client

    return run


def test_a_change_counts_up_its_topics_versions():
    assert topic_versions(["a", "b"]) == {"a": 0, "b": 0}
    topic_changed("a")
    topic_changed("a", "b", "a")
    assert topic_versions(["a", "b"]) == {"a": 2, "b": 1}


def test_stale_versions_are_answered_at_once_and_current_ones_are_held(client, settings):
    topic_changed("class:1")
    response, took = _wait(client, topics_sign(["class:1", "member:9"], LIVE_SESSION), "0,0")
    assert response.status_code == 200
    assert json.loads(response.content) == {"v": "1,0"}
    assert took < 1.0
    assert response["Cache-Control"].startswith("max-age=0")


def test_a_bad_or_forged_token_is_a_clear_403_and_bad_versions_a_400(client, settings):
    token = topics_sign(["class:1"], LIVE_SESSION)
    forged = topics_sign(["class:1"], LIVE_SESSION, secret="not-our-secret")
    unbound = signing.dumps(["class:1"], salt=SALT, compress=True)  # ours, but no session
    for bad in (token[:-2] + "xx", forged, unbound, "nonsense"):
        response, _ = _wait(client, bad, "0")
        assert response.status_code == 403
        assert "reload the page" in json.loads(response.content)["error"]
    for versions in ("x", "0,0", "-1", ""):
        response, _ = _wait(client, token, versions)
        assert response.status_code == 400, versions
        assert "version" in json.loads(response.content)["error"]
    assert client.post("/live/wait").status_code == 405


def test_an_expired_token_is_a_403_that_says_reload(client, monkeypatch):
    monkeypatch.setattr("learnlab.live.services.TOKEN_MAX_AGE", 0)
    token = topics_sign(["class:1"], LIVE_SESSION)
    time.sleep(1.1)
    response, _ = _wait(client, token, "0")
    assert response.status_code == 403
    assert "expired" in json.loads(response.content)["error"]


def test_a_change_wakes_a_held_wait_within_a_second(live_server):
    topic_changed("board:7")
    token = topics_sign(["board:7"], LIVE_SESSION)
    answered = {}

    def wait():
        url = f"{live_server.url}/live/wait?t={token}&v=1"
        request = urllib.request.Request(url, headers=live_cookie())
        with urllib.request.urlopen(request, timeout=30) as response:
            answered["status"], answered["body"] = response.status, response.read()
            answered["at"] = time.monotonic()

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(1.5)
    assert "status" not in answered  # held: nothing changed yet
    changed_at = time.monotonic()
    topic_changed("board:7")
    thread.join(5)
    assert answered["status"] == 200
    assert json.loads(answered["body"]) == {"v": "2"}
    assert answered["at"] - changed_at < 1.0


def test_a_learners_class_area_listens_to_its_own_topics_only(classroom, join):
    ada, bob = join(classroom, "Ada"), join(classroom, "Bob")
    ada_member = Membership.objects.get(display_name="Ada")
    bob_member = Membership.objects.get(display_name="Bob")
    topics, _ = _topics_in(ada.get("/class/live").content.decode(), "class-live")
    assert topics == [f"class:{classroom.pk}", f"member:{ada_member.pk}"]
    topics, _ = _topics_in(bob.get("/class/live").content.decode(), "class-live")
    assert topics == [f"class:{classroom.pk}", f"member:{bob_member.pk}"]
    # Ada cannot make a token for Bob's topic: only the server's key signs one.
    forged = topics_sign([f"member:{bob_member.pk}"], ada.session.session_key, secret="guess")
    assert ada.get("/live/wait", {"t": forged, "v": "0"}).status_code == 403
    # Nor use the token of Bob's own page: it is bound to Bob's session, not hers.
    topic_changed(f"class:{classroom.pk}")  # so a wait that is let in answers at once
    bobs = re.search(r'data-live-topics="([^"]+)"', bob.get("/class/live").content.decode())[1]
    assert bob.get("/live/wait", {"t": bobs, "v": "0,0"}).status_code == 200  # stale: at once
    refused = ada.get("/live/wait", {"t": bobs, "v": "0,0"})
    assert refused.status_code == 403
    assert "another sign-in" in json.loads(refused.content)["error"]
    assert Client().get("/live/wait", {"t": bobs, "v": "0,0"}).status_code == 403  # no cookie
    # What a change of Bob's own does is not Ada's: her wait is still current.
    before = topic_versions([f"member:{ada_member.pk}"])
    membership_stuck(membership=bob_member, step=1)
    assert topic_versions([f"member:{ada_member.pk}"]) == before


def test_instructor_actions_and_learners_change_the_topics_their_pages_wait_on(classroom, join):
    client = join(classroom, "Ada")
    member = Membership.objects.get()
    account = member.learner.sandbox.account_id
    keys = [f"class:{classroom.pk}", f"member:{member.pk}", f"board:{classroom.pk}"]
    keys.append(f"creds:{account}")

    def moved(action):
        before = topic_versions(keys)
        action()
        after = topic_versions(keys)
        return {key for key in keys if after[key] > before[key]}

    assert moved(lambda: classroom_announce(classroom=classroom, text="Break")) == {keys[0]}
    assert moved(
        lambda: classroom_reveal_hint(classroom=classroom, step=_first_step(classroom))
    ) == {keys[0], keys[2]}
    assert moved(lambda: classroom_set_clock(classroom=classroom, speed=60, paused=True)) == {
        keys[0],
        keys[2],
        keys[3],
    }
    assert moved(lambda: membership_stuck(membership=member, step=2)) == {keys[1], keys[2]}
    # A Check's result reaches the board (and the learner's class area) through the fan-out.
    step = _first_step(classroom)
    assert moved(lambda: client.post(f"/lab/{classroom.lab}/steps/{step}/check")) == {
        keys[1],
        keys[2],
    }


def _first_step(classroom) -> str:
    from learnlab.labs.catalog import lab_get

    return lab_get(classroom.lab).steps[0].slug


def test_the_board_listens_to_its_class(classroom, join):
    join(classroom, "Ada")
    owner = Client()
    owner.force_login(classroom.instructor)
    html = owner.get(f"/class/teach/{classroom.code}/").content.decode()
    topics, versions = _topics_in(html, "board-grid")
    assert topics == [f"board:{classroom.pk}"]
    assert versions == str(Change.objects.get(key=f"board:{classroom.pk}").version)


def test_a_visitor_without_a_session_gets_one_with_the_page_and_the_token_is_bound_to_it(rf):
    from django.contrib.sessions.backends.db import SessionStore
    from django.template import Context, Template

    from learnlab.live.services import topics_read

    request = rf.get("/")
    request.session = SessionStore()
    html = Template('{% load live %}<div {% live_topics "board" 5 %}>').render(
        Context({"request": request})
    )
    token = re.search(r'data-live-topics="([^"]+)"', html)[1]
    assert request.session.session_key and request.session.modified  # sent with the answer
    assert topics_read(token, "0", request.session.session_key) == [("board:5", 0)]
    with pytest.raises(ValueError, match="another sign-in"):
        topics_read(token, "0", "someone-elses-session-key")
    # No saved session (the embed relay's per-request one): no token, the safety poll alone.
    request.session = {"learner": "1"}
    assert "data-live" not in Template('{% load live %}<div {% live_topics "board" 5 %}>').render(
        Context({"request": request})
    )
