"""A locked database: waited for and retried while the lock lasts, never a 500 after."""

import sqlite3
import threading
import time

import pytest
from django.db import connection
from django.test import Client

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


class WriteLock:
    """Another connection holding the database's write lock (SQLite) or an exclusive lock on
    the learners table (PostgreSQL), as a long migration or a stuck writer would."""

    def __init__(self, table: str = "learners_learner"):
        settings = connection.settings_dict
        if connection.vendor == "sqlite":
            self.other = sqlite3.connect(
                settings["NAME"], isolation_level=None, check_same_thread=False
            )
            self.other.execute("BEGIN IMMEDIATE")
        else:
            import psycopg

            self.other = psycopg.connect(
                host=settings["HOST"] or "127.0.0.1",
                port=settings["PORT"] or 5432,
                dbname=settings["NAME"],
                user=settings["USER"] or None,
                autocommit=False,
            )
            self.other.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")

    def release(self):
        self.other.rollback()
        self.other.close()


def _give_up_after(milliseconds: int) -> None:
    """Shorten this connection's wait for a lock, so the test need not wait 20 s."""
    connection.ensure_connection()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"PRAGMA busy_timeout = {milliseconds}")
        else:
            cursor.execute(f"SET lock_timeout = '{milliseconds}ms'")


def test_a_short_lock_is_waited_out_and_the_page_works(sandbox_server):
    lock = WriteLock()
    threading.Timer(1.0, lock.release).start()
    started = time.monotonic()
    page = Client().get("/lab/instance-role/")  # a first visit writes: a learner, a sandbox
    assert page.status_code == 200
    assert time.monotonic() - started >= 0.9  # it waited for the lock rather than failing


def test_a_lock_that_outlasts_the_wait_is_a_clear_503_not_a_500(sandbox_server):
    _give_up_after(200)
    lock = WriteLock()
    try:
        page = Client().get("/lab/instance-role/")
        fragment = Client().get("/lab/instance-role/", headers={"HX-Request": "true"})
    finally:
        lock.release()
    assert page.status_code == 503 and page["Retry-After"] == "2"
    assert b"database is busy" in page.content and b"Try again" in page.content
    assert fragment.status_code == 503 and b'data-testid="database-busy"' in fragment.content
    assert b"<html" not in fragment.content


def test_the_gate_answers_a_locked_database_as_aws_does(sandbox):
    from learnlab.gate.client import aws_client
    from learnlab.sandbox.models import Sandbox

    iam = aws_client("iam", sandbox=sandbox)
    Sandbox.objects.filter(pk=sandbox.pk).update(status=Sandbox.Status.DROPPED)
    sandbox.refresh_from_db()
    _give_up_after(200)
    lock = WriteLock(table="sandbox_sandbox")
    try:
        with pytest.raises(iam.exceptions.ClientError) as refused:
            iam.list_roles()  # the sandbox must be rebuilt first: a write
    finally:
        lock.release()
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 503  # which SDKs retry by themselves
    assert error["Error"]["Code"] == "ServiceUnavailable"
    assert iam.list_roles()["Roles"] == []  # and once the lock is gone, it works
