"""Email is configured with Django 6.1's MAILERS (EMAIL_BACKEND and the EMAIL_* settings are
deprecated: RemovedInDjango2028Warning). By default the console; with LEARNLAB_SMTP_HOST, SMTP
to that host and port, which a real (tiny) SMTP server here receives. Each run in a fresh
process, as settings are read once."""

import os
import socketserver
import subprocess
import sys
import threading

import pytest

from tests.helpers import ROOT

SEND = """
import warnings
warnings.simplefilter("always")
import django
django.setup()
from django.conf import settings
from django.core import mail
print("MAILERS" if hasattr(settings._wrapped, "MAILERS") else "NO-MAILERS")
print(type(mail.mailers.default).__module__)
mail.send_mail("Reset", "Your link.", None, ["ada@example.org"])
"""


def _run(**env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEARNLAB_SMTP")}
    return subprocess.run(
        [sys.executable, "-W", "always", "-c", SEND],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "learnlab.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _no_deprecation(run: subprocess.CompletedProcess) -> None:
    assert run.returncode == 0, run.stderr
    assert "Migrate to MAILERS" not in run.stderr, run.stderr
    assert "RemovedInDjango2028Warning" not in run.stderr, run.stderr


def test_by_default_mail_is_printed_with_no_deprecation_warning():
    run = _run()
    _no_deprecation(run)
    lines = run.stdout.splitlines()
    assert lines[:2] == ["MAILERS", "django.core.mail.backends.console"]
    assert "Subject: Reset" in run.stdout and "To: ada@example.org" in run.stdout


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for one message: EHLO, MAIL, RCPT, DATA, QUIT."""

    def handle(self):
        self.wfile.write(b"220 test ESMTP\r\n")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.wfile.write(b"250 test\r\n")
            elif verb == b"DATA":
                self.wfile.write(b"354 go on\r\n")
                body = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    body += chunk
                self.server.received.append(body.decode())
                self.wfile.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def smtp_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_with_an_smtp_host_mail_goes_there_with_no_deprecation_warning(smtp_server):
    run = _run(
        LEARNLAB_SMTP_HOST="127.0.0.1",
        LEARNLAB_SMTP_PORT=str(smtp_server.server_address[1]),
        LEARNLAB_SMTP_TLS="0",
        LEARNLAB_EMAIL_FROM="LearnLab <learnlab@example.org>",
    )
    _no_deprecation(run)
    assert run.stdout.splitlines()[:2] == ["MAILERS", "django.core.mail.backends.smtp"]
    (message,) = smtp_server.received
    assert "Subject: Reset" in message and "learnlab@example.org" in message
