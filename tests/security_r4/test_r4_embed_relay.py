"""Red team R4: the embed relay (learnlab/embed/relay.py, views.embed_relay) as a hostile
learner or host page meets it, through Django's test client with CSRF enforced and the
frame's cookies never sent back (a cross-site iframe's). Held: path tricks, methods, a huge
body, another learner's instance. Findings (strict xfail): what the relay's answers carry
beyond the view's own (cookies, cacheability, a redirect out of the relay) and a token that
outlives the account's own revocations."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from learnlab.embed.relay import FRESH_HEADER, REFUSED_HEADER
from learnlab.embed.tokens import HEADER, embed_token_read
from learnlab.gate.client import aws_client
from learnlab.sandbox.services import sandbox_for_learner

HOST = "https://tutorials.example"
OURS = "http://testserver"
PASSWORD = "a-long-enough-password-42"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def listed(settings):
    settings.LEARNLAB_EMBED_ORIGINS = [HOST]


@pytest.fixture
def frame():
    return Client(enforce_csrf_checks=True)


def _token(client) -> str:
    page = client.get("/embed/instance-role/", {"host": HOST})
    assert page.status_code == 200, page.content[:300]
    return re.search(r'data-embed-token="([^"]+)"', page.content.decode())[1]


def _headers(token, *, htmx=True) -> dict:
    headers = {HEADER: token, "Origin": OURS}
    if htmx:
        headers["HX-Request"] = "true"
    return headers


# Each resolves (Django decodes %2F first) or is refused; none reaches a view outside
# EMBEDDABLE, none is a 500.
PATHS = {
    "terminal%2Frun": 200,  # the same view, decoded
    "TERMINAL/run": 404,
    "terminal//run": 404,
    "./terminal/run": 404,
    "terminal/run.": 404,
    "terminal/../terminal/run": 404,
    "/terminal/run": 404,
    "%2e%2e/terminal/run": 404,
    "terminal/run%00": 404,
    "embed/relay/terminal/run": 403,  # the relay through itself
    "embed/instance-role/create-role/check": 403,
    "lab/instance-role/steps/create-role/check": 403,  # the lab page's Check: not relayed
    "lab/instance-role/reset": 403,
    "sandbox/": 403,
    "sandbox/instances/i-0123456789abcdef0/demo": 403,
}


@pytest.mark.parametrize("path", PATHS)
def test_path_tricks_reach_only_the_embeddable_views(frame, sandbox_server, path):
    token = _token(frame)
    frame.cookies.clear()
    answer = frame.post(f"/embed/relay/{path}", {"line": "aws iam list-roles"})
    assert answer.status_code in (403, 404) and answer[REFUSED_HEADER] == "1"  # no token
    answer = frame.post(
        f"/embed/relay/{path}", {"line": "aws iam list-roles"}, headers=_headers(token)
    )
    assert answer.status_code == PATHS[path], (path, answer.content[:200])
    if answer.status_code != 200:
        assert answer[REFUSED_HEADER] == "1"


def test_other_methods_and_a_huge_body_get_clear_answers(frame, sandbox_server):
    """Held: PUT, DELETE, OPTIONS (no CORS grant for a preflight), PATCH, HEAD: 405; a 3 MB
    line: the terminal's own refusal, not a 500."""
    token = _token(frame)
    frame.cookies.clear()
    for method in ("put", "delete", "options", "patch", "head"):
        answer = getattr(frame, method)("/embed/relay/terminal/run", headers=_headers(token))
        assert answer.status_code == 405, method
        assert "Access-Control-Allow-Origin" not in answer
    huge = frame.post(
        "/embed/relay/terminal/run", {"line": "x" * 3_000_000}, headers=_headers(token)
    )
    assert huge.status_code in (200, 400, 413), huge.status_code
    assert b"Traceback" not in huge.content


def test_another_learners_instance_panel_is_not_relayed(frame, sandbox_server):
    """Held: learner B's token on learner A's instance's credentials panel: 404, as for a
    made-up id."""
    victim = Client()
    victim_token = _token(victim)
    sandbox = sandbox_for_learner(learner=embed_token_read(victim_token).learner)
    ec2 = aws_client("ec2", sandbox=sandbox)
    instance = ec2.run_instances(ImageId="ami-0453ec754f44f9a4a", MinCount=1, MaxCount=1)[
        "Instances"
    ][0]["InstanceId"]
    own = frame.get(
        f"/embed/relay/sandbox/instances/{instance}/credentials", headers=_headers(victim_token)
    )
    assert own.status_code == 200, own.content[:200]
    attacker = Client(enforce_csrf_checks=True)
    token = _token(attacker)
    answer = attacker.get(
        f"/embed/relay/sandbox/instances/{instance}/credentials", headers=_headers(token)
    )
    assert answer.status_code == 404


def test_a_relayed_answer_sets_no_cookie(frame, sandbox_server):
    """Expected (relay.py: "nothing is saved and no cookie is set"): no Set-Cookie on any
    relay answer. Today labs:progress renders {% csrf_token %}, so CsrfViewMiddleware adds
    csrftoken. Fix: in embed_relay, after the inner view, ``response.cookies.clear()`` and
    drop ``Cookie`` from Vary (or mark request.META["CSRF_COOKIE_NEEDS_UPDATE"] = False)."""
    token = _token(frame)
    frame.cookies.clear()
    answer = frame.get("/embed/relay/lab/instance-role/progress", headers=_headers(token))
    assert answer.status_code == 200
    assert FRESH_HEADER in answer
    assert not answer.cookies, answer.cookies.output()


def test_a_relayed_redirect_does_not_leave_the_relay(frame, sandbox_server):
    """Attack: the frame's own scripts always send HX-Request, but anything else holding the
    token (a script, a replayed request) posts a console form without it. Expected: the
    relay answers inside the relay (the view's htmx answer, or a refusal), sets no cookie.
    Today the view answers 302 to /lab/instance-role/ (which a fetch follows without the
    token: a page for a brand-new learner) with the outcome in a ``messages`` cookie. Fix:
    in embed_relay, set ``request.htmx`` truthy (or refuse a request without HX-Request), and
    refuse a 3xx answer whose Location is not under /embed/."""
    token = _token(frame)
    frame.cookies.clear()
    answer = frame.post(
        "/embed/relay/lab/instance-role/console/role_for_ec2",
        {"role_for_ec2-role_name": "x"},
        headers=_headers(token, htmx=False),
    )
    location = answer.get("Location", "")
    assert not (300 <= answer.status_code < 400) or location.startswith("/embed/"), location
    assert not answer.cookies, answer.cookies.output()


def test_relayed_answers_with_a_fresh_token_are_not_cacheable(frame, sandbox_server):
    """Attack: a shared cache or CDN in front of LearnLab keys GETs by URL; the token rides in
    a request header it does not vary on. Expected: every relay answer (it carries
    X-LearnLab-Embed-Token, a token for the learner's sandbox) says ``Cache-Control:
    no-store`` (or private), as imds:credentials already does. Today console fields, progress
    and completion answers say nothing. Fix: ``patch_cache_control(response, private=True,
    no_store=True)`` and ``patch_vary_headers(response, [HEADER])`` in embed_relay."""
    token = _token(frame)
    frame.cookies.clear()
    for path in (
        "lab/instance-role/console/launch_instance",
        "terminal/complete?line=aws%20s",
        "lab/instance-role/progress",
    ):
        answer = frame.get(f"/embed/relay/{path}", headers=_headers(token))
        assert answer.status_code == 200, path
        assert FRESH_HEADER in answer
        control = answer.get("Cache-Control", "")
        assert "no-store" in control or "private" in control, (path, control)


def test_an_accounts_embed_token_dies_with_the_accounts_password_or_deactivation(
    sandbox_server,
):
    """Attack: a signed-in learner opens an embed address top-level (a listed host's link,
    or a hostile page's window.open: cookies go with a top-level GET), so the page mints a
    token for their account's learner; the token leaks (history, a screenshot, a log line
    of ?t=). The learner changes the password (and an operator deactivates the account):
    Django ends every session, but the token, and each fresh one it is traded for, still runs
    the terminal as the account. Fix: put the user's session auth hash
    (``user.get_session_auth_hash()``) and ``is_active`` into the token's check in
    embed_token_read for a learner with a user (as SessionAuthenticationMiddleware does)."""
    user = get_user_model().objects.create_user("vic", password=PASSWORD)
    browser = Client()
    assert browser.login(username="vic", password=PASSWORD)
    token = _token(browser)
    assert embed_token_read(token).learner.user == user
    user.set_password("another-long-password-43")
    user.is_active = False
    user.save()
    thief = Client(enforce_csrf_checks=True)
    answer = thief.post(
        "/embed/relay/terminal/run",
        {"line": "aws sts get-caller-identity"},
        headers=_headers(token),
    )
    assert answer.status_code == 403, answer.content[:200]
