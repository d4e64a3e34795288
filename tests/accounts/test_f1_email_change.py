"""Your account's email change (fixes of red team R3's findings): the current password is asked
and throttled as a sign-in, the old address is told, an in-use answer counts as a sign-up, and
an address is compared and stored in one spelling (NFKC, the domain through IDNA)."""

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

from learnlab.accounts.forms import EMAIL_TAKEN, PASSWORD_NEEDED, canonical_email

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

PASSWORD = "a-long-enough-password-42"
TAKEN_WORDS = EMAIL_TAKEN.split(".")[0]


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _signed_up(username: str, email: str, address: str = "198.51.100.10") -> Client:
    browser = Client(REMOTE_ADDR=address)
    data = {"username": username, "password1": PASSWORD, "password2": PASSWORD, "email": email}
    assert browser.post("/accounts/signup/", data).status_code == 302
    mail.outbox.clear()
    return browser


def _email(username: str) -> str:
    return get_user_model().objects.get(username=username).email


def test_the_change_needs_the_current_password_and_tells_the_old_address(sandbox_server):
    browser = _signed_up("vera", "vera@example.org")
    page = browser.get("/accounts/account/").content.decode()
    assert 'name="current_password"' in page and 'type="password"' in page

    missing = browser.post("/accounts/account/", {"email": "new@example.org"})
    assert missing.status_code == 200 and PASSWORD_NEEDED in missing.content.decode()
    wrong = browser.post(
        "/accounts/account/", {"email": "new@example.org", "current_password": "not-it-123"}
    )
    assert "not this account&#x27;s password" in wrong.content.decode()
    assert _email("vera") == "vera@example.org" and mail.outbox == []
    assert "new@example.org" not in wrong.content.decode().split("<form")[0]

    right = browser.post(
        "/accounts/account/", {"email": "new@example.org", "current_password": PASSWORD}
    )
    page = right.content.decode()
    assert 'data-testid="account-saved"' in page and "A notice of the change was sent" in page
    assert _email("vera") == "new@example.org"
    assert [message.to for message in mail.outbox] == [["vera@example.org"]]
    notice = mail.outbox[0]
    assert "reset email changed" in notice.subject
    assert "vera" in notice.body and "new@example.org" in notice.body
    assert "change your password" in notice.body


def test_removing_the_address_tells_the_old_one_and_an_unchanged_post_needs_no_password(
    sandbox_server,
):
    browser = _signed_up("bo", "bo@example.org")
    same = browser.post("/accounts/account/", {"email": "BO@example.org"})
    assert 'data-testid="account-saved"' in same.content.decode() and mail.outbox == []
    removed = browser.post("/accounts/account/", {"email": "", "current_password": PASSWORD})
    assert "no email address" in removed.content.decode()
    assert _email("bo") == ""
    assert [message.to for message in mail.outbox] == [["BO@example.org"]]  # as last saved
    assert "goes nowhere" in mail.outbox[0].body


def test_wrong_passwords_on_your_account_count_as_failed_sign_ins(sandbox_server, settings):
    settings.LEARNLAB_LOGIN_FAILURES_PER_ACCOUNT = 3
    browser = _signed_up("cy", "cy@example.org")
    for n in range(3):
        answer = browser.post(
            "/accounts/account/", {"email": "x@example.org", "current_password": f"guess-{n}"}
        )
        assert answer.status_code == 200
    # past the limit even the right password is refused unchecked, here and at sign-in
    refused = browser.post(
        "/accounts/account/", {"email": "x@example.org", "current_password": PASSWORD}
    )
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.content.decode()
    assert _email("cy") == "cy@example.org"
    sign_in = Client().post("/accounts/login/", {"username": "cy", "password": PASSWORD})
    assert sign_in.status_code == 429


def test_in_use_answers_on_your_account_count_in_the_sign_up_throttle(sandbox_server, settings):
    settings.LEARNLAB_SIGNUPS_PER_CLIENT = 3
    _signed_up("held", "held@example.org", address="198.51.100.11")
    browser = _signed_up("prober", "", address="203.0.113.90")
    from django.core.cache import cache

    cache.clear()  # the sign-ups' own counts
    answers = [
        browser.post(
            "/accounts/account/", {"email": "held@example.org", "current_password": PASSWORD}
        )
        for _ in range(5)
    ]
    told = [TAKEN_WORDS in answer.content.decode() for answer in answers]
    assert told == [True, True, True, False, False]
    assert [answer.status_code for answer in answers[3:]] == [429, 429]
    assert "Try again in" in answers[3].content.decode()
    # the same address's sign-ups are refused too: it is one count
    data = {"username": "p2", "password1": PASSWORD, "password2": PASSWORD, "email": "p2@x.org"}
    assert Client(REMOTE_ADDR="203.0.113.90").post("/accounts/signup/", data).status_code == 429


def test_sign_up_in_use_answers_are_counted_and_a_free_address_still_signs_up(
    sandbox_server, settings
):
    settings.LEARNLAB_SIGNUPS_PER_CLIENT = 2
    _signed_up("held", "held@example.org", address="198.51.100.12")
    data = {"password1": PASSWORD, "password2": PASSWORD, "email": "held@example.org"}
    first = Client(REMOTE_ADDR="203.0.113.91").post("/accounts/signup/", {**data, "username": "a"})
    assert first.status_code == 200 and TAKEN_WORDS in first.content.decode()
    free = {**data, "username": "b", "email": "b@example.org"}
    assert Client(REMOTE_ADDR="203.0.113.91").post("/accounts/signup/", free).status_code == 302
    third = Client(REMOTE_ADDR="203.0.113.91").post("/accounts/signup/", {**data, "username": "c"})
    assert third.status_code == 429 and TAKEN_WORDS not in third.content.decode()


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("ada@\uff58.org", "ada@x.org"),  # fullwidth x
        ("Ada@X.ORG", "Ada@x.org"),
        ("ada@xn--bcher-kva.de", "ada@bücher.de"),
        ("ada@B\u00fcCHER.de", "ada@bücher.de"),
        ("ada@x\uff0eorg", "ada@x.org"),  # fullwidth full stop
    ],
)
def test_one_mailbox_has_one_spelling(typed, stored):
    assert canonical_email(typed) == stored


def test_spellings_of_one_mailbox_are_refused_as_taken_and_a_bad_domain_is_refused(
    sandbox_server,
):
    _signed_up("ada", "ada@bücher.de", address="198.51.100.13")
    assert _email("ada") == "ada@bücher.de"
    data = {"username": "eve", "password1": PASSWORD, "password2": PASSWORD}
    for spelling in ("ada@xn--bcher-kva.de", "ADA@B\u00dcCHER.DE"):
        answer = Client().post("/accounts/signup/", {**data, "email": spelling})
        assert answer.status_code == 200 and TAKEN_WORDS in answer.content.decode(), spelling
    long_label = "ada@" + "a" * 64 + ".org"
    answer = Client().post("/accounts/signup/", {**data, "email": long_label})
    assert answer.status_code == 200 and "Enter a valid email address" in answer.content.decode()
    assert not get_user_model().objects.filter(username="eve").exists()
    # a reset typed in another spelling reaches the one account
    Client().post("/accounts/password/reset/", {"email": "ada@xn--bcher-kva.de"})
    assert [message.to for message in mail.outbox] == [["ada@bücher.de"]]
