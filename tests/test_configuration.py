"""The suite runs on the database and broker the environment names (see DEVELOPERS.md)."""

import os

import pytest
from django.db import connection
from django_q.brokers import get_broker

pytestmark = [pytest.mark.services, pytest.mark.django_db]


def test_the_database_is_the_configured_one():
    expected = (
        "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    )
    assert connection.vendor == expected


def test_sqlite_runs_in_wal_with_immediate_transactions():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite settings only")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] == 20000  # from the "timeout" option
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_the_broker_is_redis_when_a_redis_url_is_set():
    broker = type(get_broker()).__name__
    assert broker == ("Redis" if os.environ.get("LEARNLAB_REDIS_URL") else "ORM")


def test_production_settings_pass_the_deploy_check(tmp_path):
    import secrets
    import subprocess
    import sys

    from tests.helpers import ROOT

    env = {
        **os.environ,
        "LEARNLAB_SECURE": "1",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "LEARNLAB_DATA_DIR": str(tmp_path),
        "LEARNLAB_SMTP_HOST": "smtp.example.org",  # production mails its password resets
    }
    env.pop("DEBUG", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the test runner's, not production's

    def deploy_check(env):
        return subprocess.run(
            [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )

    result = deploy_check(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    # Without SMTP, resets are only printed: the deploy check tells the operator so.
    env.pop("LEARNLAB_SMTP_HOST")
    result = deploy_check(env)
    assert result.returncode != 0 and "mail.E001" in result.stdout + result.stderr
