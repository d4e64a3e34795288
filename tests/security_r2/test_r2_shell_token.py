"""Red team R2: the personal terminal token (``/sandbox/env?token=llsh_...``) against the
planted-cookie attack that sign-up and log-in already defend the keys against.

The attack (DEVELOPERS.md, "What a hostile learner meets": "sign-up and log-in rotate a
carried-over sandbox's keys and its instances' metadata URLs and credentials, so a planted cookie
buys nothing"): the attacker makes an anonymous session, plants its cookie in the victim's
browser, and before that asks the sandbox page for a personal terminal line with it. The victim
signs up (or logs in to an account that has no learner yet); the anonymous learner becomes the
account's, and its sandbox gets new keys. The token was made by the attacker and is not rotated.
"""

import re
import shlex

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_cache")]

PASSWORD = "a-long-enough-password-42"


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _exports(text: str) -> dict:
    pairs = (
        line.removeprefix("export ").split("=", 1)
        for line in text.splitlines()
        if line.startswith("export ") and "=" in line
    )
    return {name: shlex.split(value)[0] for name, value in pairs}


@pytest.mark.parametrize("how", ["sign-up", "log-in"])
def test_a_terminal_token_made_with_a_planted_cookie_stops_working_once_the_victim_signs_in(
    sandbox_server, how
):
    """Attack: the attacker's anonymous session makes a terminal token (POST /sandbox/token),
    then its cookie is planted in the victim's browser; the victim signs up, or logs in to an
    account with no learner yet. Expected: as with the keys and metadata URLs, whatever the
    planted session made stops working at sign-in: the old token gets the 403 a revoked token
    gets, never the account's new keys. Today the token still answers 200 with the rotated
    keys, so the attacker reads the victim's account sandbox keys after every rotation."""
    if how == "log-in":
        User.objects.create_user("erin", password=PASSWORD)  # an account without a learner yet
    attacker = Client(REMOTE_ADDR="203.0.113.60")
    assert attacker.get("/sandbox/panel").status_code == 200  # anonymous learner and sandbox
    made = attacker.post("/sandbox/token", {"action": "new"})
    token = re.search(r"\?token=(llsh_[\w-]+)", made.content.decode()).group(1)
    before = _exports(Client(REMOTE_ADDR="203.0.113.61").get(f"/sandbox/env?token={token}").text)
    assert before.get("AWS_ACCESS_KEY_ID")

    victim = Client(REMOTE_ADDR="198.51.100.60")
    victim.cookies["sessionid"] = attacker.cookies["sessionid"].value  # the planted cookie
    if how == "sign-up":
        form = {"username": "erin", "password1": PASSWORD, "password2": PASSWORD}
        assert victim.post("/accounts/signup/", form).status_code == 302
    else:
        login = {"username": "erin", "password": PASSWORD}
        assert victim.post("/accounts/login/", login).status_code == 302
    own = _exports(victim.get("/sandbox/env").text)
    assert own["AWS_ACCESS_KEY_ID"] != before["AWS_ACCESS_KEY_ID"]  # the keys were rotated

    later = Client(REMOTE_ADDR="203.0.113.62").get(f"/sandbox/env?token={token}")
    assert own["AWS_ACCESS_KEY_ID"] not in later.text
    assert later.status_code == 403
    assert "this terminal URL is not valid" in later.text
