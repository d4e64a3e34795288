"""Fixtures: a real sandbox server, real learners with real sandboxes, the real AWS CLI."""

import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest

from learnlab.gate.parsing import GATE_PREFIX
from learnlab.site.launch import free_port, sandbox_server_start
from tests import agreement
from tests.helpers import start_task_cluster, stop_task_cluster

# Sync Playwright runs an event loop in the test thread; Django's ORM must still be usable.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

VENV_BIN = Path(sys.executable).parent
REQUIRE_SERVICES = os.environ.get("LEARNLAB_REQUIRE_SERVICES") == "1"


def _reachable(url: str, default_port: int) -> bool:
    parts = urllib.parse.urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def pytest_configure(config):
    from django.conf import settings

    config.pluginmanager.register(agreement, "evaluator-agreement")

    # Tests serve static files from the source folders; no collectstatic manifest needed.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def pytest_collection_modifyitems(config, items):
    """The scale path's services: skip with a reason when absent, fail when CI requires them."""
    missing = []
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url.startswith("postgres") and not _reachable(database_url, 5432):
        missing.append(f"PostgreSQL at {database_url}")
    redis_url = os.environ.get("LEARNLAB_REDIS_URL", "")
    if redis_url and not _reachable(redis_url, 6379):
        missing.append(f"Redis at {redis_url}")
    if not missing:
        return
    reason = "not reachable: " + ", ".join(missing)
    if REQUIRE_SERVICES:
        pytest.exit(f"LEARNLAB_REQUIRE_SERVICES=1 and {reason}", returncode=1)
    for item in items:
        item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """A file, not memory, for SQLite's test database: the task cluster's process shares it."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        database.setdefault("TEST", {})["NAME"] = str(
            tmp_path_factory.mktemp("db") / "test.sqlite3"
        )


@pytest.fixture(scope="session")
def sandbox_server_process(request, tmp_path_factory):
    """A real sandbox server process for the whole run, recording each policy evaluation for
    the evaluator agreement check (tests/agreement.py)."""
    port, secret = free_port(), secrets.token_hex(16)
    env = agreement.recording_env(request.config, tmp_path_factory)
    process = sandbox_server_start(port=port, secret=secret, env=env)
    url = f"http://127.0.0.1:{port}"
    yield {"url": url, "secret": secret, "process": process}
    agreement.close_recording(request.config, url, secret)
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:  # a loaded machine: never an error in teardown
        process.kill()
        process.wait(10)


@pytest.fixture
def sandbox_server(sandbox_server_process, settings):
    """The run's sandbox server; Django's settings point at it for this test only, so a test
    that does not ask for it never reaches it by running after one that did."""
    settings.LEARNLAB_SANDBOX_URL = sandbox_server_process["url"]
    settings.LEARNLAB_SANDBOX_SECRET = sandbox_server_process["secret"]
    return sandbox_server_process


@pytest.fixture
def make_sandbox(sandbox_server, db):
    """Provision a real sandbox for a new learner."""
    from learnlab.learners.models import Learner
    from learnlab.sandbox.services import sandbox_for_learner

    def make():
        return sandbox_for_learner(learner=Learner.objects.create())

    return make


@pytest.fixture
def sandbox(make_sandbox):
    return make_sandbox()


@pytest.fixture
def gate_url(live_server, sandbox_server):
    return live_server.url + GATE_PREFIX


@pytest.fixture
def aws(gate_url, tmp_path):
    """Run the real AWS CLI against the gate as a sandbox's lab user (or other given keys)."""
    aws_bin = shutil.which("aws", path=str(VENV_BIN)) or "aws"

    def run(*args, sandbox=None, key_id=None, secret=None, token=None, check=False):
        if sandbox is not None:
            key = sandbox.lab_key()
            key_id, secret = key_id or key.access_key_id, secret or key.secret_access_key
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
            "AWS_ENDPOINT_URL": gate_url,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": key_id,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        if token:
            env["AWS_SESSION_TOKEN"] = token
        result = subprocess.run(
            [aws_bin, *args], env=env, capture_output=True, text=True, timeout=60
        )
        if check:
            assert result.returncode == 0, result.stderr
        return result

    return run


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Playwright cannot download browsers here: use Debian's Chromium by path."""
    return {
        **browser_type_launch_args,
        "executable_path": os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
        "args": [
            "--no-sandbox",
            "--headless=new",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-dev-shm-usage",
        ],
    }


@pytest.fixture
def task_cluster(sandbox_server):
    process = start_task_cluster(sandbox_server)
    yield process
    stop_task_cluster(process)


@pytest.fixture
def fresh_cache(db):
    """The throttles' counters live in the cache (a database table, or Redis), which
    transactional tests do not empty: none from another test counts in this one, and none from
    this one counts in another."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def ticker():
    """The lab clock's work once a second in a thread (the task cluster's job in production), so
    it ticks on while a test waits on a browser, curl or the CLI; the fixture's value stops it
    early (a test that ticks by hand from some point on)."""
    from django.db import connection

    from learnlab.imds.credentials import credentials_tick

    stop = threading.Event()

    def loop():
        while not stop.wait(1.0):
            credentials_tick()
        connection.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()

    def end():
        stop.set()
        thread.join(10)

    yield end
    end()
