"""Fixtures the browser tests share."""

import threading

import pytest
from django.db import connection

from learnlab.imds.credentials import credentials_tick


@pytest.fixture
def ticker():
    """The lab clock's work once a second in a thread (the task cluster's job in production)."""
    stop = threading.Event()

    def loop():
        while not stop.wait(1.0):
            credentials_tick()
        connection.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(10)
