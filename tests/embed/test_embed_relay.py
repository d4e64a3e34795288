"""The relay (learnlab/embed/relay.py) through Django's test client with CSRF enforced as a
browser meets it: the embedded page's terminal and console forms reach the lab page's own views
as the token's learner, with no cookie; a forged token, another origin or an unlisted view is
refused, and every other view keeps its CSRF check."""

import re

import pytest
from django.test import Client

from learnlab.embed.relay import FRESH_HEADER, REFUSED_HEADER
from learnlab.embed.tokens import HEADER, embed_token_mint, embed_token_read
from learnlab.gate.client import aws_client
from learnlab.learners.models import Learner
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox.services import sandbox_for_learner

HOST = "https://tutorials.example"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def listed(settings):
    settings.LEARNLAB_EMBED_ORIGINS = [HOST]


@pytest.fixture
def frame():
    """A browser in a cross-site frame: CSRF enforced, and no cookie ever sent back."""
    return Client(enforce_csrf_checks=True)


def _embed(frame) -> tuple[str, str]:
    """The embed page's token and body, as the frame first loads it."""
    page = frame.get("/embed/instance-role/", {"host": HOST})
    assert page.status_code == 200, page.content[:300]
    body = page.content.decode()
    frame.cookies.clear()  # a cross-site frame's cookies never come back (SameSite=Lax)
    return re.search(r'data-embed-token="([^"]+)"', body)[1], body


def _relay(frame, path, token, *, data=None, origin="http://testserver", **headers):
    extra = {HEADER: token, "HX-Request": "true", **headers}
    if origin:
        extra["Origin"] = origin
    if data is None:
        return frame.get(f"/embed/relay/{path}", headers=extra)
    return frame.post(f"/embed/relay/{path}", data, headers=extra)


def test_the_embed_page_carries_the_terminal_and_console_forms(frame, sandbox_server):
    _, body = _embed(frame)
    assert 'id="terminal-form"' in body and 'id="terminal-log"' in body
    assert 'id="console-role_for_ec2"' in body  # step 1's console form, open
    assert 'id="console-launch_instance"' in body  # step 3's, fetched when opened
    assert "Connect the terminal to" in body  # the instance steps' connect button
    assert 'data-embed-relay="/embed/relay/"' in body
    assert "terminal/files" not in body  # the files page needs a first-party session


def test_the_terminal_runs_as_the_tokens_learner_without_a_cookie(frame, sandbox_server):
    token, _ = _embed(frame)
    learner = embed_token_read(token).learner
    answer = _relay(frame, "terminal/run", token, data={"line": "aws iam list-roles"})
    assert answer.status_code == 200, answer.content[:300]
    assert "&quot;Roles&quot;: []" in answer.content.decode()
    assert embed_token_read(answer[FRESH_HEADER]).learner == learner
    assert "sessionid" not in answer.cookies  # no session row, no cookie
    line = (
        "aws iam create-role --role-name Relayed --assume-role-policy-document "
        f"'{EC2_TRUST_POLICY}'"
    )
    made = _relay(frame, "terminal/run", token, data={"line": line})
    assert "Relayed" in made.content.decode()
    iam = aws_client("iam", sandbox=sandbox_for_learner(learner=learner))
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["Relayed"]
    assert Learner.objects.count() == 1  # nobody new made by the cookie-less requests


def test_a_console_form_posts_as_the_tokens_learner(frame, sandbox_server):
    token, _ = _embed(frame)
    learner = embed_token_read(token).learner
    answer = _relay(
        frame,
        "lab/instance-role/console/role_for_ec2",
        token,
        data={
            "role_for_ec2-role_name": "FromTheFrame",
            "role_for_ec2-trust_policy": EC2_TRUST_POLICY,
            "role_for_ec2-managed_policies": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
        },
    )
    assert answer.status_code == 200, answer.content[:500]
    assert 'data-testid="console-done"' in answer.content.decode()
    iam = aws_client("iam", sandbox=sandbox_for_learner(learner=learner))
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["FromTheFrame"]
    fields = _relay(frame, "lab/instance-role/console/launch_instance", token)
    assert fields.status_code == 200 and "FromTheFrame" in fields.content.decode()


def test_a_forged_or_missing_token_is_refused_saying_why(frame, sandbox_server):
    token, _ = _embed(frame)
    for bad in ("", token[:-4] + "AAAA"):
        answer = _relay(frame, "terminal/run", bad, data={"line": "aws iam list-roles"})
        assert answer.status_code == 403
        assert answer[REFUSED_HEADER] == "1"
        assert "launch token" in answer.content.decode()


def test_another_origin_and_unlisted_views_are_refused(frame, sandbox_server):
    token, _ = _embed(frame)
    other = _relay(frame, "terminal/run", token, data={"line": "aws iam list-roles"}, origin=HOST)
    assert other.status_code == 403 and "embedded page only" in other.content.decode()
    for path in ("sandbox/", "lab/instance-role/reset", "accounts/logout", "terminal/files/"):
        answer = _relay(frame, path, token, data={})
        assert answer.status_code in (403, 404), (path, answer.status_code)
        assert answer[REFUSED_HEADER] == "1"
    missing = _relay(frame, "no/such/page", token)
    assert missing.status_code == 404 and "no such page" in missing.content.decode()


def test_the_lab_pages_own_views_keep_their_csrf_check(frame, sandbox_server):
    """The token header does not lift CSRF anywhere but the relay: the terminal's own address
    with a token and no CSRF token is refused as before."""
    token, _ = _embed(frame)
    answer = frame.post(
        "/terminal/run",
        {"line": "aws iam list-roles"},
        headers={HEADER: token, "HX-Request": "true", "Origin": "http://testserver"},
    )
    assert answer.status_code == 403
    assert REFUSED_HEADER not in answer


def test_an_lti_learners_token_carries_their_account(frame, sandbox_server, django_user_model):
    user = django_user_model.objects.create_user("lti-abc")
    learner = Learner.objects.create(user=user)
    token = embed_token_mint(learner=learner, host="https://lms.example", source="lti")
    answer = _relay(frame, "terminal/run", token, data={"line": "aws sts get-caller-identity"})
    assert answer.status_code == 200, answer.content[:300]
    account = sandbox_for_learner(learner=learner).account_id
    assert account in answer.content.decode()
    assert Learner.objects.count() == 1
