"""The terminal's files pages (the in-page editor) and its Tab completion endpoint, over HTTP."""

import pytest
from django.test import Client

from learnlab.terminal.completion import aws_completions
from learnlab.terminal.models import HomeFile

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(sandbox_server):
    browser = Client(enforce_csrf_checks=True)
    browser.get("/sandbox/panel")
    return browser


def _csrf(browser) -> str:
    browser.get("/terminal/files/")
    return browser.cookies["csrftoken"].value


def test_the_editor_saves_within_the_quotas_and_says_why_not(browser):
    token = _csrf(browser)
    saved = browser.post(
        "/terminal/files/edit",
        {
            "name": "trust.json",
            "content": "{}\r\n",
            "host": "workstation",
            "csrfmiddlewaretoken": token,
        },
    )
    assert saved.status_code == 302
    assert HomeFile.objects.get().content == "{}\n"
    page = browser.get("/terminal/files/edit?name=trust.json")
    assert b"{}\n</textarea>" in page.content
    huge = browser.post(
        "/terminal/files/edit",
        {"name": "big", "content": "a" * 70_000, "csrfmiddlewaretoken": token},
    )
    assert huge.status_code == 400 and b"file too large for this lab" in huge.content
    outside = browser.post(
        "/terminal/files/edit",
        {"name": "/etc/passwd", "content": "x", "csrfmiddlewaretoken": token},
    )
    assert outside.status_code == 400 and b"not available in this lab" in outside.content
    assert browser.post("/terminal/files/edit", {"name": "x", "content": "y"}).status_code == 403
    assert HomeFile.objects.count() == 1


def test_deleting_a_file(browser):
    token = _csrf(browser)
    browser.post(
        "/terminal/files/edit", {"name": "a", "content": "1", "csrfmiddlewaretoken": token}
    )
    listing = browser.get("/terminal/files/")
    assert b"Edit a" in listing.content
    browser.post("/terminal/files/delete", {"name": "a", "csrfmiddlewaretoken": token})
    assert HomeFile.objects.count() == 0


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("aws ia", ["iam"]),
        ("aws iam create-ro", ["create-role"]),
        ("aws iam create-role --assume", ["--assume-role-policy-document"]),
        ("aws s3 ", ["ls", "mb", "rb"]),
        ("aws lam", []),
        ("echo aws", []),
    ],
)
def test_completion_comes_from_the_clis_own_completer(line, expected):
    assert aws_completions(line) == expected


def test_completion_never_offers_what_the_terminal_refuses(client):
    options = client.get("/terminal/complete", {"line": "aws iam create-role --"}).json()
    assert "--role-name" in options["completions"]
    assert not {"--debug", "--profile", "--endpoint-url", "--cli-input-json"} & set(
        options["completions"]
    )
    assert "lambda" not in client.get("/terminal/complete", {"line": "aws "}).json()["completions"]
