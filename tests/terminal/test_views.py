"""The terminal's page and endpoints: CSRF, the htmx fragment, the plain-form fallback, and never
a 500 whatever the command line."""

import re

import pytest
from django.conf import settings
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from learnlab.sandbox import connection
from learnlab.terminal.models import Shell

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_the_terminal_page_has_a_labelled_input_and_a_log(client, sandbox_server):
    page = client.get("/terminal/").content.decode()
    assert 'role="log"' in page and 'aria-live="polite"' in page
    assert '<label for="terminal-line"' in page and 'id="terminal-line"' in page
    assert "[learner@workstation ~]$" in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert " style=" not in page and " onclick=" not in page


def test_a_post_without_the_csrf_token_is_refused(sandbox_server):
    client = Client(enforce_csrf_checks=True)
    client.get("/terminal/")
    response = client.post("/terminal/run", {"line": "aws sts get-caller-identity"}, **HTMX)
    assert response.status_code == 403
    assert [shell.scrollback for shell in Shell.objects.all()] == [[]]


def test_a_post_with_the_token_returns_the_entry_and_the_next_prompt(sandbox_server):
    client = Client(enforce_csrf_checks=True)
    client.get("/terminal/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/terminal/run",
        {"line": "echo '<b>bold</b>' && aws sts get-caller-identity --query Account"},
        HTTP_X_CSRFTOKEN=token,
        **HTMX,
    )
    assert response.status_code == 200
    fragment = response.content.decode()
    assert "[learner@workstation ~]$</span> echo &#x27;&lt;b&gt;bold&lt;/b&gt;&#x27;" in fragment
    assert "&lt;b&gt;bold&lt;/b&gt;\n" in fragment and "<b>" not in fragment
    account = Shell.objects.get().sandbox.account_id
    assert f'"{account}"' in fragment.replace("&quot;", '"')
    assert '<span id="terminal-ps1" hx-swap-oob="true">[learner@workstation ~]$</span>' in fragment


def test_clear_starts_the_log_over(client, sandbox_server):
    client.post("/terminal/run", {"line": "echo one"}, **HTMX)
    response = client.post("/terminal/run", {"line": "clear"}, **HTMX)
    assert response["HX-Reswap"] == "innerHTML"
    assert "echo one" not in response.content.decode()
    client.post("/terminal/run", {"line": "echo two"}, **HTMX)
    assert client.post("/terminal/clear", **HTMX).content == b""
    assert Shell.objects.get().scrollback == []


def test_without_htmx_the_form_runs_and_returns_to_the_page(client, sandbox_server):
    response = client.post("/terminal/run", {"line": "echo from a plain form", "next": "/lab/"})
    assert response.status_code == 302 and response["Location"] == "/lab/#terminal"
    page = client.get("/terminal/").content.decode()
    assert "from a plain form\n" in page
    elsewhere = client.post("/terminal/run", {"line": "true", "next": "https://evil.test/"})
    assert elsewhere["Location"] == "/terminal/"


def test_an_unreachable_sandbox_server_is_a_plain_message(client, sandbox_server, monkeypatch):
    monkeypatch.setattr(settings, "LEARNLAB_SANDBOX_URL", "http://127.0.0.1:9")
    response = client.post("/terminal/run", {"line": "aws sts get-caller-identity"}, **HTMX)
    assert response.status_code == 200
    assert connection.RECONNECTING.split(".")[0] in response.content.decode()


def test_the_include_works_without_context_from_the_including_view(client, sandbox_server):
    client.post("/terminal/run", {"line": "echo kept"}, **HTMX)
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    request = RequestFactory().get("/lab/")
    request.session = client.session
    request.user = type("Anonymous", (), {"is_authenticated": False})()
    html = render_to_string("terminal/_terminal.html", request=request)
    assert "kept\n" in html and 'id="terminal-log"' in html


LINES = st.one_of(
    st.text(max_size=200),
    st.lists(
        st.sampled_from([*"ab $`'\"\\|&;<>(){}#=*?~!\n\t", "$(", "${", "aws ", "curl "]),
        max_size=80,
    ).map("".join),
    st.lists(
        st.sampled_from(
            ["aws", "sts", "get-caller-identity", "iam", "--query", "'x'", "$(echo", ")", "`",
             "curl", "-H", "http://169.254.169.254/", "echo", "|", "jq", ".", "&&", "X=1", "$X",
             "file://x", "--output", "table", "ünïcødé", "\\\n", '"', "connect", "exit"]
        ),
        max_size=12,
    ).map(" ".join),
    st.integers(8000, 12000).map(lambda n: "echo " + "x" * n),
)  # fmt: skip


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(line=LINES)
def test_random_command_lines_never_reach_a_500(client, sandbox_server, line):
    response = client.post("/terminal/run", {"line": line}, **HTMX)
    assert response.status_code == 200
    assert b'class="terminal-entry' in response.content
