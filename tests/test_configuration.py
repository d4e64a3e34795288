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
        assert cursor.fetchone()[0] == 5000
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_the_broker_is_redis_when_a_redis_url_is_set():
    broker = type(get_broker()).__name__
    assert broker == ("Redis" if os.environ.get("LEARNLAB_REDIS_URL") else "ORM")
