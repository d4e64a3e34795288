"""An account's embed token ends as the account's sessions do: with a password change, or when
the account is deactivated, each on its own, and every fresh token traded for it too. A token
of a learner with no account is unaffected; a relayed redirect stays inside the relay."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from learnlab.embed.relay import FRESH_HEADER, REFUSED_HEADER
from learnlab.embed.tokens import HEADER, EmbedTokenError, embed_token_read
from learnlab.embed.views import _inside_embed

HOST = "https://tutorials.example"
PASSWORD = "a-long-enough-password-42"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def listed(settings):
    settings.LEARNLAB_EMBED_ORIGINS = [HOST]


def _token(client) -> str:
    page = client.get("/embed/instance-role/", {"host": HOST})
    assert page.status_code == 200, page.content[:300]
    return re.search(r'data-embed-token="([^"]+)"', page.content.decode())[1]


def _run(token, line="aws sts get-caller-identity"):
    frame = Client(enforce_csrf_checks=True)
    headers = {HEADER: token, "Origin": "http://testserver", "HX-Request": "true"}
    return frame.post("/embed/relay/terminal/run", {"line": line}, headers=headers)


def _account_token(name):
    user = get_user_model().objects.create_user(name, password=PASSWORD)
    browser = Client()
    assert browser.login(username=name, password=PASSWORD)
    return user, _token(browser)


def test_a_password_change_alone_ends_the_token_and_the_fresh_ones(sandbox_server):
    user, token = _account_token("ana")
    answer = _run(token)
    assert answer.status_code == 200, answer.content[:200]
    fresh = answer[FRESH_HEADER]
    assert embed_token_read(fresh).learner.user == user
    user.set_password("another-long-password-43")
    user.save()
    for old in (token, fresh):
        refused = _run(old)
        assert refused.status_code == 403 and refused[REFUSED_HEADER] == "1"
        assert "password has changed" in refused.content.decode()


def test_a_deactivation_alone_ends_the_token(sandbox_server):
    user, token = _account_token("bo")
    assert embed_token_read(token).learner.user == user
    user.is_active = False
    user.save()
    with pytest.raises(EmbedTokenError, match="no longer active"):
        embed_token_read(token)
    user.is_active = True
    user.save()
    assert embed_token_read(token).learner.user == user  # the same password: good again


def test_a_learner_without_an_account_keeps_working(sandbox_server):
    token = _token(Client())
    assert embed_token_read(token).learner.user is None
    answer = _run(token, "aws sts get-caller-identity")
    assert answer.status_code == 200, answer.content[:200]
    assert "no-store" in answer["Cache-Control"] and "private" in answer["Cache-Control"]
    assert HEADER.lower() in answer["Vary"].lower()
    assert not answer.cookies


@pytest.mark.parametrize(
    ("location", "inside"),
    [
        ("/embed/instance-role/", True),
        ("/embed/relay/terminal/run", True),
        ("/lab/instance-role/#console-x", False),
        ("/embed/../lab/instance-role/", False),
        ("//evil.example/embed/", False),
        ("https://testserver/embed/x", False),
        ("", False),
        ("/embedded/", False),
    ],
)
def test_only_a_redirect_to_an_embed_page_stays_in_the_relay(location, inside):
    assert _inside_embed(location) is inside
