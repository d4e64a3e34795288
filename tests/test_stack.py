"""`make run` starts the whole stack, serves it, and Ctrl-C leaves no process behind."""

import os
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from learnlab.site.launch import free_port, healthz, stack_env, stack_start, stack_wait
from tests.helpers import process_alive, process_cmdline, process_descendants

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("stop_signal", "servers"), [(signal.SIGINT, 1), (signal.SIGTERM, 1), (signal.SIGINT, 2)]
)
def test_make_run_starts_everything_and_stops_cleanly(tmp_path, stop_signal, servers):
    port = free_port()
    env = stack_env(port=port, data_dir=tmp_path, servers=servers)
    make = stack_start(env, make=True, stdout=subprocess.PIPE, text=True)
    try:
        stack_wait(make, port)
        _status, body = healthz(port)
        assert body["database"]["vendor"] == "sqlite"
        assert body["sandbox_server"]["servers"] == servers
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as home:
            assert b"LearnLab" in home.read()
        with sqlite3.connect(tmp_path / "learnlab.sqlite3") as database:
            tables = {name for (name,) in database.execute("SELECT name FROM sqlite_master")}
        assert {"learnlab_cache", "django_session"} <= tables  # throttles' counters, sessions
        processes = process_descendants(make.pid)
        assert len(processes) >= 5  # supervisor, sandbox server, qcluster (+workers), gunicorn

        # As a terminal does for Ctrl-C: the signal goes to the whole foreground group.
        if stop_signal == signal.SIGINT:
            os.killpg(make.pid, signal.SIGINT)
        else:
            supervisor = next(p for p in processes if b"runstack" in process_cmdline(p))
            os.kill(supervisor, signal.SIGTERM)
        output, _ = make.communicate(timeout=30)
        assert "LearnLab is up: http://localhost:" in output
        assert "stopped" in output
        time.sleep(0.5)
        assert [pid for pid in processes if process_alive(pid)] == []
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
