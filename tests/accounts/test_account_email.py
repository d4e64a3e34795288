"""Password reset reaches the accounts LearnLab makes: sign-up (learner and instructor) asks for
an email address, unique in any case; Your account adds or changes it; createinstructor takes
--email; and with the SMTP settings the reset mail reaches a real SMTP server."""

import importlib.util
import io
import re
import socket
import threading
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from learnlab.accounts.forms import EMAIL_TAKEN
from learnlab.classroom.selectors import is_instructor

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-enough-password-42"
NEW_PASSWORD = "another-long-password-43"
RESET_LINK = re.compile(r"https?://[^/\s]+(/accounts/password/reset/\S+/)")


def _sign_up(client: Client, username: str, email: str = "", url: str = "/accounts/signup/"):
    data = {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    if email is not None:
        data["email"] = email
    return client.post(url, data)


def _reset_with_link(body: str, username: str) -> None:
    """Follow the mailed link, set NEW_PASSWORD, and sign in with it."""
    link = RESET_LINK.search(body)
    assert link, body
    browser = Client()
    page = browser.get(link[1], follow=True)
    assert page.status_code == 200 and "Set the password" in page.content.decode()
    done = browser.post(
        page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert done.status_code == 302
    signed_in = Client().post("/accounts/login/", {"username": username, "password": NEW_PASSWORD})
    assert signed_in.status_code == 302, signed_in.content.decode()[:2000]
    assert not Client().login(username=username, password=PASSWORD)


def test_a_learner_signs_up_with_an_email_and_resets_a_forgotten_password(sandbox_server):
    page = Client().get("/accounts/signup/").content.decode()
    assert 'name="email"' in page and "a forgotten password cannot be reset" in page
    assert _sign_up(Client(), "ada", "Ada@Example.org").status_code == 302
    assert get_user_model().objects.get(username="ada").email == "Ada@example.org"
    sent = Client().post("/accounts/password/reset/", {"email": "ada@example.ORG"})
    assert sent.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["Ada@example.org"]
    _reset_with_link(mail.outbox[0].body, "ada")


def test_a_learner_may_sign_up_without_an_email(sandbox_server):
    assert _sign_up(Client(), "bo", "").status_code == 302
    assert get_user_model().objects.get(username="bo").email == ""


def test_an_address_in_use_is_refused_in_any_case_without_saying_whose(sandbox_server):
    assert _sign_up(Client(), "ada", "ada@example.org").status_code == 302
    refused = _sign_up(Client(), "bo", "ADA@example.org")
    assert refused.status_code == 200
    page = refused.content.decode()
    assert "Another account already uses this email address" in page
    assert "ada" not in page.replace("ADA@example.org", "")
    assert not get_user_model().objects.filter(username="bo").exists()


def test_an_instructor_must_give_an_email_and_can_reset_with_it(sandbox_server):
    url = "/class/teach/signup"
    missing = _sign_up(Client(), "prof", "", url=url)
    assert missing.status_code == 200 and "This field is required" in missing.content.decode()
    assert not get_user_model().objects.filter(username="prof").exists()
    assert _sign_up(Client(), "prof", "prof@example.org", url=url).status_code == 302
    user = get_user_model().objects.get(username="prof")
    assert is_instructor(user) and user.email == "prof@example.org"
    Client().post("/accounts/password/reset/", {"email": "prof@example.org"})
    assert len(mail.outbox) == 1
    _reset_with_link(mail.outbox[0].body, "prof")


def test_your_account_adds_an_email_that_a_reset_then_reaches(sandbox_server):
    browser = Client()
    assert _sign_up(browser, "cy", "").status_code == 302
    Client().post("/accounts/password/reset/", {"email": "cy@example.org"})
    assert mail.outbox == []  # no account has it yet
    page = browser.get("/accounts/account/").content.decode()
    assert 'data-testid="account-email"' in page
    change = {"email": "cy@example.org", "current_password": PASSWORD}
    saved = browser.post("/accounts/account/", change).content.decode()
    assert 'data-testid="account-saved"' in saved and "cy@example.org" in saved
    assert "A notice of the change" not in saved  # there was no old address to tell
    Client().post("/accounts/password/reset/", {"email": "CY@example.org"})
    assert len(mail.outbox) == 1
    _reset_with_link(mail.outbox[0].body, "cy")


def test_your_account_refuses_another_accounts_address_and_needs_a_sign_in(sandbox_server):
    get_user_model().objects.create_user(username="ada", email="ada@example.org")
    browser = Client()
    _sign_up(browser, "cy", "cy@example.org")
    change = {"email": "Ada@Example.org", "current_password": PASSWORD}
    refused = browser.post("/accounts/account/", change).content.decode()
    assert EMAIL_TAKEN.split(".")[0] in refused
    assert get_user_model().objects.get(username="cy").email == "cy@example.org"
    anonymous = Client().get("/accounts/account/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_an_instructor_cannot_remove_their_email(sandbox_server):
    browser = Client()
    _sign_up(browser, "prof", "prof@example.org", url="/class/teach/signup")
    change = {"email": "", "current_password": PASSWORD}
    refused = browser.post("/accounts/account/", change).content.decode()
    assert "This field is required" in refused
    assert get_user_model().objects.get(username="prof").email == "prof@example.org"


def test_createinstructor_takes_an_email(monkeypatch):
    monkeypatch.setenv("LEARNLAB_INSTRUCTOR_PASSWORD", PASSWORD)
    call_command("createinstructor", "prof", "--email", "prof@example.org", stdout=io.StringIO())
    user = get_user_model().objects.get(username="prof")
    assert is_instructor(user) and user.email == "prof@example.org"
    with pytest.raises(CommandError, match="another account already uses this address"):
        call_command("createinstructor", "other", "--email", "PROF@example.org")
    with pytest.raises(CommandError, match="is not an email address"):
        call_command("createinstructor", "other", "--email", "not-an-address")
    assert not get_user_model().objects.filter(username="other").exists()
    out = io.StringIO()
    call_command("createinstructor", "bare", stdout=out)
    assert "has no email address" in out.getvalue()


class SmtpSink:
    """A minimal SMTP server on a local port: enough of RFC 5321 for smtplib (EHLO, MAIL,
    RCPT, DATA, QUIT), keeping each message's envelope and data."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.messages: list[dict] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as reader:
                self._session(conn, reader)

    def _session(self, conn, reader):
        conn.sendall(b"220 sink ESMTP\r\n")
        message = {"from": "", "to": [], "data": ""}
        while line := reader.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                conn.sendall(b"250 sink\r\n")
            elif verb == b"MAIL":
                message["from"] = line.decode().strip()
                conn.sendall(b"250 OK\r\n")
            elif verb == b"RCPT":
                message["to"].append(line.decode().strip())
                conn.sendall(b"250 OK\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go on\r\n")
                data = []
                while (chunk := reader.readline()) not in (b".\r\n", b""):
                    data.append(chunk.decode())
                message["data"] = "".join(data)
                self.messages.append(message)
                message = {"from": "", "to": [], "data": ""}
                conn.sendall(b"250 queued\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 OK\r\n")

    def close(self):
        self.server.close()


def _settings_with(monkeypatch, **environ) -> dict:
    """The mail settings learnlab/settings.py makes from this environment (a fresh copy of the
    module, so its SMTP branch runs)."""
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    path = Path(__file__).resolve().parents[2] / "learnlab" / "settings.py"
    spec = importlib.util.spec_from_file_location("learnlab_settings_smtp_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {
        name: getattr(module, name)
        for name in dir(module)
        if name.startswith("EMAIL_") or name in ("MAILERS", "DEFAULT_FROM_EMAIL")
    }


def test_with_the_smtp_settings_a_reset_mail_reaches_the_smtp_server(monkeypatch):
    sink = SmtpSink()
    try:
        mail_settings = _settings_with(
            monkeypatch,
            LEARNLAB_SMTP_HOST="127.0.0.1",
            LEARNLAB_SMTP_PORT=str(sink.port),
            LEARNLAB_SMTP_TLS="0",
            LEARNLAB_EMAIL_FROM="LearnLab <noreply@learnlab.test>",
        )
        assert "smtp" in repr(mail_settings).lower(), mail_settings
        get_user_model().objects.create_user(
            username="ada", email="ada@example.org", password=PASSWORD
        )
        with override_settings(**mail_settings):
            sent = Client().post("/accounts/password/reset/", {"email": "ada@example.org"})
        assert sent.status_code == 302
        assert mail.outbox == []  # not the test's in-memory outbox: the SMTP server got it
        assert len(sink.messages) == 1, sink.messages
        message = sink.messages[0]
        assert "noreply@learnlab.test" in message["from"]
        assert [to.lower() for to in message["to"]] == ["rcpt to:<ada@example.org>"]
        _reset_with_link(message["data"].replace("=\r\n", "").replace("=3D", "="), "ada")
    finally:
        sink.close()


def test_without_the_smtp_settings_mail_goes_to_the_console(monkeypatch):
    monkeypatch.delenv("LEARNLAB_SMTP_HOST", raising=False)
    assert "console" in repr(_settings_with(monkeypatch)).lower()
