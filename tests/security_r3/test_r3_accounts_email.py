"""Red team R3: the email address on accounts (sign-up, Your account, password reset) attacked
as a hostile learner would: takeover through a stolen session, enumeration, case and Unicode
spellings of one address, header injection."""

import re

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

from learnlab.accounts.forms import EMAIL_TAKEN

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_cache")]

PASSWORD = "a-long-enough-password-42"
ATTACKER_PASSWORD = "the-attackers-password-99"
RESET_LINK = re.compile(r"https?://[^/\s]+(/accounts/password/reset/\S+/)")
TAKEN_WORDS = EMAIL_TAKEN.split(".")[0]  # "Another account already uses this email address"


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _sign_up(client: Client, username: str, email: str):
    data = {"username": username, "password1": PASSWORD, "password2": PASSWORD, "email": email}
    return client.post("/accounts/signup/", data)


def _reset(email: str, *, address: str, valid: bool = True) -> list:
    """Ask a reset for ``email``; the messages it sent. An invalid address gets the form back."""
    before = len(mail.outbox)
    answer = Client(REMOTE_ADDR=address).post("/accounts/password/reset/", {"email": email})
    assert answer.status_code == (302 if valid else 200), answer.content.decode()[:500]
    return mail.outbox[before:]


def _follow_reset(body: str, new_password: str) -> bool:
    """Follow a mailed reset link and set ``new_password``; whether it was set."""
    link = RESET_LINK.search(body)
    if not link:
        return False
    browser = Client()
    page = browser.get(link[1], follow=True)
    done = browser.post(
        page.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password}
    )
    return done.status_code == 302


def test_a_stolen_session_cannot_change_the_email_and_reset_the_password(sandbox_server):
    """Attack: the attacker has the victim's session cookie for a while (a shared computer, a
    copied cookie). They post their own address on Your account, then ask a reset for it:
    the link arrives in their mailbox, they set a password, and the victim is locked out of
    their account for good (their sessions end with the password change).
    Expected: changing the address asks the current password (as Django's password change
    does) and tells the old address; without it the address is unchanged and the reset goes
    nowhere. Today the post alone changes it, nothing is sent to the old address, and the
    attacker signs in with the password they chose."""
    assert _sign_up(Client(), "vera", "vera@example.org").status_code == 302
    victim = Client(REMOTE_ADDR="198.51.100.70")
    assert victim.post("/accounts/login/", {"username": "vera", "password": PASSWORD}).status_code
    stolen = Client(REMOTE_ADDR="203.0.113.70")
    stolen.cookies["sessionid"] = victim.cookies["sessionid"].value

    changed = stolen.post("/accounts/account/", {"email": "mallory@evil.example"})
    assert changed.status_code in (200, 302, 400, 403)
    sent = _reset("mallory@evil.example", address="203.0.113.71")
    taken = any(
        message.to == ["mallory@evil.example"] and _follow_reset(message.body, ATTACKER_PASSWORD)
        for message in sent
    )
    attacker_in = Client().login(username="vera", password=ATTACKER_PASSWORD)

    assert not taken and not attacker_in, "the attacker reset vera's password and signed in"
    assert get_user_model().objects.get(username="vera").email == "vera@example.org"


def test_sign_up_does_not_answer_unlimited_guesses_of_whose_email_is_registered(sandbox_server):
    """Attack: a script posts sign-ups from one address with a list of candidate emails (and a
    password that fails nothing else), and reads which ones are "already used".
    Expected: no more answers than LEARNLAB_SIGNUPS_PER_CLIENT before 429 (the fix: count a
    refused sign-up, or at least one refused for a taken address, in the sign-up throttle),
    or answers that do not tell a taken address from a free one. Today every guess is
    answered, so 3 x the limit of guesses all tell."""
    for n in range(3):
        assert _sign_up(Client(), f"holder{n}", f"holder{n}@example.org").status_code == 302
    from django.core.cache import cache

    cache.clear()  # the three real sign-ups' counts are not the attacker's
    attacker = Client(REMOTE_ADDR="203.0.113.80")
    told = 0
    guesses = 3 * settings.LEARNLAB_SIGNUPS_PER_CLIENT
    for n in range(guesses):
        answer = _sign_up(attacker, f"probe{n}", f"holder{n % 3}@example.org")
        assert answer.status_code in (200, 429)
        told += TAKEN_WORDS in answer.content.decode()
    assert told <= settings.LEARNLAB_SIGNUPS_PER_CLIENT, f"{told} of {guesses} guesses answered"


def test_your_account_does_not_answer_unlimited_guesses_of_registered_emails(sandbox_server):
    """The same oracle from inside: a signed-in learner changes their email to each candidate
    in turn. Expected: a limit (the sign-up one, or the password re-check the finding above
    asks for, which the throttled sign-in guards). Today all are answered."""
    assert _sign_up(Client(), "held", "held@example.org").status_code == 302
    prober = Client(REMOTE_ADDR="203.0.113.81")
    assert _sign_up(prober, "prober", "").status_code == 302
    told = 0
    guesses = 3 * settings.LEARNLAB_SIGNUPS_PER_CLIENT
    for _ in range(guesses):
        answer = prober.post("/accounts/account/", {"email": "held@example.org"})
        told += TAKEN_WORDS in answer.content.decode()
    assert told <= settings.LEARNLAB_SIGNUPS_PER_CLIENT, f"{told} of {guesses} guesses answered"


def test_a_compatibility_spelling_of_a_taken_address_is_refused(sandbox_server):
    """ada@\uff58.org (U+FF58 FULLWIDTH LATIN SMALL LETTER X) is a valid EmailField value; IDNA
    maps its domain to x.org, so mail for it lands in ada@x.org's mailbox. Expected: refused
    as taken (the fix: compare, and store, the address with its domain IDNA-encoded, or
    NFKC-normalised and case-folded, e.g. a unique ``email_key`` column). Held meanwhile: the
    reset for ada@x.org reaches only the first account (checked below), so this is a
    duplicate, not a takeover."""
    assert _sign_up(Client(), "ada", "ada@x.org").status_code == 302
    second = _sign_up(Client(REMOTE_ADDR="203.0.113.82"), "ada2", "ada@\uff58.org")
    sent = _reset("ada@x.org", address="203.0.113.83")
    assert [message.to for message in sent] == [["ada@x.org"]]  # no takeover either way
    assert second.status_code == 200 and TAKEN_WORDS in second.content.decode()


@pytest.mark.parametrize(
    "email",
    [
        "mallory@evil.example\r\nBcc: everyone@example.org",
        "mallory@evil.example\nCc: x@example.org",
        "mallory@evil.example%0d%0aBcc:x@example.org",
        "mallory\uff20evil.example",  # FULLWIDTH COMMERCIAL AT
        "vera@example.org\u0000",
    ],
)
def test_header_injection_and_odd_at_signs_in_the_email_are_refused(sandbox_server, email):
    """Held: Django's EmailField refuses them at sign-up and on Your account (a 200 with the
    form's error, never a 500), and no reset mail goes to an injected address."""
    answer = _sign_up(Client(REMOTE_ADDR="203.0.113.84"), "mal", email)
    assert answer.status_code == 200 and not get_user_model().objects.filter(username="mal")
    assert _sign_up(Client(), "vera", "vera@example.org").status_code == 302
    vera = Client()
    vera.post("/accounts/login/", {"username": "vera", "password": PASSWORD})
    changed = vera.post("/accounts/account/", {"email": email})
    assert changed.status_code == 200
    assert get_user_model().objects.get(username="vera").email == "vera@example.org"
    sent = _reset(email, address="203.0.113.85", valid=False)
    assert not sent


def test_the_reset_form_answers_alike_for_a_known_and_an_unknown_address(sandbox_server):
    """Held: the reset form redirects to the same page whether or not an account has the
    address (Django's own behaviour), so it is no oracle; only the mailbox's owner learns."""
    assert _sign_up(Client(), "kim", "kim@example.org").status_code == 302
    known = Client(REMOTE_ADDR="203.0.113.86").post(
        "/accounts/password/reset/", {"email": "kim@example.org"}
    )
    unknown = Client(REMOTE_ADDR="203.0.113.87").post(
        "/accounts/password/reset/", {"email": "nobody@example.org"}
    )
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["kim@example.org"]


def test_a_dotless_i_or_case_spelling_reaches_no_other_account(sandbox_server):
    """Held: a reset for the Turkish dotless-i spelling of a domain (ada@x\u0131.org) or an
    upper-case one (ADA@XI.ORG) never gives anyone but ada@xi.org's mailbox a link for that
    account: every link mailed elsewhere is followed, and ada's password still works."""
    assert _sign_up(Client(), "ada", "ada@xi.org").status_code == 302
    eve = _sign_up(Client(REMOTE_ADDR="203.0.113.88"), "eve", "ada@x\u0131.org")
    assert eve.status_code == 302
    for spelling in ("ada@x\u0131.org", "ADA@XI.ORG", "ada@XI.org", "ADA@X\u0130.ORG"):
        for message in _reset(spelling, address="203.0.113.89"):
            assert message.to in (["ada@xi.org"], ["ada@x\u0131.org"]), message.to
            if message.to != ["ada@xi.org"]:
                _follow_reset(message.body, ATTACKER_PASSWORD)
    assert Client().login(username="ada", password=PASSWORD)
    assert not Client().login(username="ada", password=ATTACKER_PASSWORD)
