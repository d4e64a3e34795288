"""Sign-in is throttled, log-out ends the session for good, and a sandbox brought into an account
gets new keys: each was a finding of the security review (issue 12)."""

import json
import shlex
import unicodedata

import pytest
from botocore.exceptions import ClientError
from django.contrib.auth.models import User
from django.test import Client

from learnlab.gate.client import aws_client
from learnlab.imds.models import InstanceCredentials
from learnlab.sandbox.models import AccessKey, Sandbox
from tests.helpers import launch_with_role

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_cache")]

PASSWORD = "a-long-enough-password-42"
CREDENTIALS = "latest/meta-data/iam/security-credentials/app"


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _sign_in(client, username, password):
    return client.post("/accounts/login/", {"username": username, "password": password})


@pytest.mark.services  # the counters on Redis too (make test-scale)
def test_ten_wrong_passwords_then_the_right_one_is_refused_with_a_message():
    User.objects.create_user("ada", password=PASSWORD)
    User.objects.create_user("bob", password=PASSWORD)
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(10):
        assert _sign_in(attacker, "ada", "wrong-guess").status_code == 200

    refused = _sign_in(attacker, "ada", PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.content.decode()
    assert "_auth_user_id" not in attacker.session
    # The account is refused from any client until the window ends, the right password too...
    assert _sign_in(Client(REMOTE_ADDR="198.51.100.2"), "ADA ", PASSWORD).status_code == 429
    # ...while another account, from another client, signs in as usual.
    other = Client(REMOTE_ADDR="198.51.100.3")
    assert _sign_in(other, "bob", PASSWORD).status_code == 302
    assert other.session["_auth_user_id"] == str(User.objects.get(username="bob").pk)


def _spellings(name: str, count: int) -> list[str]:
    """``count`` spellings of ``name`` that NFKC folds back to it, one letter changed each
    (fullwidth U+FF41, mathematical bold U+1D41A...)."""
    forms = []
    for index, letter in enumerate(name):
        for codepoint in range(0x80, 0x1FFFF):
            if unicodedata.normalize("NFKC", chr(codepoint)) == letter:
                forms.append(name[:index] + chr(codepoint) + name[index + 1 :])
                if len(forms) == count:
                    return forms
    return forms


def test_every_spelling_that_reaches_an_account_shares_its_failure_count():
    """Django signs in with the username NFKC-normalised: the review's second round spread 15
    guesses for ``ada`` over compatibility spellings and three addresses, under every limit."""
    ada = User.objects.create_user("ada", password=PASSWORD)
    variants = _spellings("ada", 15)
    assert len(set(variants)) == 15 and "ada" not in variants
    probe = Client(REMOTE_ADDR="198.51.100.19")  # each spelling is ada's account
    assert _sign_in(probe, variants[0], PASSWORD).status_code == 302
    assert probe.session["_auth_user_id"] == str(ada.pk)
    for number, variant in enumerate(variants[:10]):  # 5 an address, under the client limit
        guesser = Client(REMOTE_ADDR=f"203.0.113.{10 + number // 5}")
        assert _sign_in(guesser, variant, "wrong-guess").status_code == 200

    for spelling in ("ada", variants[12]):
        refused = _sign_in(Client(REMOTE_ADDR="198.51.100.20"), spelling, PASSWORD)
        assert refused.status_code == 429, f"{spelling!r} signed in after 10 wrong passwords"
        assert "Too many failed sign-ins" in refused.content.decode()


def test_one_client_guessing_across_accounts_is_refused(settings):
    settings.LEARNLAB_LOGIN_FAILURES_PER_CLIENT = 3
    User.objects.create_user("carol", password=PASSWORD)
    guesser = Client(REMOTE_ADDR="203.0.113.8")
    for name in ("u1", "u2", "u3"):
        assert _sign_in(guesser, name, "wrong-guess").status_code == 200
    assert _sign_in(guesser, "carol", PASSWORD).status_code == 429
    assert _sign_in(Client(REMOTE_ADDR="203.0.113.9"), "carol", PASSWORD).status_code == 302


def test_a_copied_session_cookie_stops_working_at_log_out():
    User.objects.create_user("dan", password=PASSWORD)
    browser = Client()
    assert _sign_in(browser, "dan", PASSWORD).status_code == 302
    thief = Client()
    thief.cookies["sessionid"] = browser.cookies["sessionid"].value
    assert thief.get("/class/teach/").status_code == 403  # signed in (not an instructor)

    browser.post("/accounts/logout/")
    response = thief.get("/class/teach/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def _keys(client) -> dict:
    client.get("/sandbox/panel")  # the learner and sandbox, if new
    response = client.get("/sandbox/env")
    assert response.status_code == 200, response.content
    exports = (line for line in response.text.splitlines() if line.startswith("export "))
    pairs = (line.removeprefix("export ").split("=", 1) for line in exports)
    return {name: shlex.split(value)[0] for name, value in pairs}


@pytest.mark.parametrize("how", ["sign-up", "log-in"])
def test_keys_planted_with_an_anonymous_cookie_stop_working_once_the_victim_signs_in(aws, how):
    if how == "log-in":
        User.objects.create_user("erin", password=PASSWORD)  # an account without a sandbox
    victim = Client()
    planted = _keys(victim)  # the attacker made this cookie and kept its keys
    key_id, secret = planted["AWS_ACCESS_KEY_ID"], planted["AWS_SECRET_ACCESS_KEY"]
    aws("sts", "get-caller-identity", key_id=key_id, secret=secret, check=True)

    if how == "sign-up":
        form = {"username": "erin", "password1": PASSWORD, "password2": PASSWORD}
        assert victim.post("/accounts/signup/", form).status_code == 302
    else:
        assert _sign_in(victim, "erin", PASSWORD).status_code == 302

    stale = aws("sts", "get-caller-identity", key_id=key_id, secret=secret)
    assert stale.returncode != 0 and "InvalidClientTokenId" in stale.stderr
    fresh = _keys(victim)
    assert fresh["AWS_ACCESS_KEY_ID"] != key_id
    aws(
        "sts",
        "get-caller-identity",
        key_id=fresh["AWS_ACCESS_KEY_ID"],
        secret=fresh["AWS_SECRET_ACCESS_KEY"],
        check=True,
    )
    assert fresh["AWS_ACCESS_KEY_ID"] in victim.get("/sandbox/panel").text


def _sign_in_or_up(client, how: str, username: str) -> None:
    if how == "sign-up":
        form = {"username": username, "password1": PASSWORD, "password2": PASSWORD}
        assert client.post("/accounts/signup/", form).status_code == 302
    else:
        assert _sign_in(client, username, PASSWORD).status_code == 302


def _metadata_url(client, instance_id: str) -> str:
    page = client.get(f"/sandbox/instances/{instance_id}/")
    assert page.status_code == 200
    return "/" + page.context["imds_url"].split("/", 3)[3]


def _caller(sandbox, key_id: str) -> str:
    key = AccessKey.objects.get(access_key_id=key_id)
    try:
        return aws_client("sts", sandbox=sandbox, key=key).get_caller_identity()["Arn"]
    except ClientError as error:
        return error.response["Error"]["Code"]


@pytest.mark.parametrize("how", ["sign-up", "log-in"])
def test_a_metadata_url_noted_before_the_victim_signs_in_serves_nothing_after(sandbox_server, how):
    """The second review round: the attacker who planted the cookie had launched an instance
    with a role and noted its metadata URL; rotating the lab user's key left that URL, and the
    credentials it served, working in what is now the victim's sandbox."""
    if how == "log-in":
        User.objects.create_user("erin", password=PASSWORD)  # an account without a sandbox
    attacker = Client(REMOTE_ADDR="203.0.113.50")
    assert attacker.get("/sandbox/panel").status_code == 200  # an anonymous learner and sandbox
    sandbox = Sandbox.objects.get()
    instance_id = launch_with_role(sandbox)
    noted = _metadata_url(attacker, instance_id)
    stolen = json.loads(attacker.get(noted + CREDENTIALS).content)["AccessKeyId"]
    assert _caller(sandbox, stolen).endswith(f"/app/{instance_id}")

    victim = Client(REMOTE_ADDR="198.51.100.50")
    victim.cookies["sessionid"] = attacker.cookies["sessionid"].value  # the planted cookie
    _sign_in_or_up(victim, how, "erin")
    sandbox.refresh_from_db()
    assert sandbox.learner.user.username == "erin"

    assert Client(REMOTE_ADDR="203.0.113.51").get(noted + CREDENTIALS).status_code == 404
    assert _caller(sandbox, stolen) == "ExpiredToken"
    assert InstanceCredentials.objects.get(access_key__access_key_id=stolen).forgotten_at
    # The victim's instance page shows the instance's new URL, which serves fresh credentials.
    fresh_url = _metadata_url(victim, instance_id)
    assert fresh_url != noted
    fresh = json.loads(victim.get(fresh_url + CREDENTIALS).content)["AccessKeyId"]
    assert fresh != stolen
    assert _caller(sandbox, fresh).endswith(f"/app/{instance_id}")


@pytest.mark.services  # the counters on Redis too (make test-scale)
def test_a_limit_of_zero_turns_the_log_in_throttle_off(settings):
    """0 means no limit, as for every throttle setting: one wrong password must not lock the
    account out (found in review: ``count >= 0`` refused every attempt)."""
    settings.LEARNLAB_LOGIN_FAILURES_PER_ACCOUNT = 0
    settings.LEARNLAB_LOGIN_FAILURES_PER_CLIENT = 0
    User.objects.create_user("ada", password=PASSWORD)
    client = Client(REMOTE_ADDR="203.0.113.9")
    assert _sign_in(client, "ada", "wrong-guess").status_code == 200
    assert _sign_in(client, "ada", PASSWORD).status_code == 302


@pytest.mark.services
@pytest.mark.parametrize("path", ["/accounts/signup/", "/class/teach/signup"])
def test_accounts_created_from_one_address_are_limited(settings, path):
    """Each account costs a password hash and may carry a sandbox: a client creates at most
    LEARNLAB_SIGNUPS_PER_CLIENT in a window, learners' and instructors' alike."""
    settings.LEARNLAB_SIGNUPS_PER_CLIENT = 2

    def _new(username: str) -> dict:  # an instructor's sign-up needs an email address
        email = f"{username}@example.org"
        return {"username": username, "password1": PASSWORD, "password2": PASSWORD, "email": email}

    client = Client(REMOTE_ADDR="203.0.113.10")
    for number in range(2):
        answer = client.post(path, {**_new(f"new{number}")})
        assert answer.status_code == 302
        client.post("/accounts/logout/")
    refused = client.post(path, _new("new2"))
    assert refused.status_code == 429
    assert "Too many accounts were created from this address" in refused.content.decode()
    assert not User.objects.filter(username="new2").exists()
    other = Client(REMOTE_ADDR="198.51.100.20")
    answer = other.post(path, _new("new3"))
    assert answer.status_code == 302
