"""`make run` stops everything when make itself, not the terminal's whole group, is signalled.

A terminal's Ctrl-C reaches every process of the foreground group (tests/test_stack.py); a
`kill` of make's pid (a service manager, a script, an IDE's stop button) reaches make alone.
GNU make forwards SIGTERM to its children but not SIGINT, and waits for them either way."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from learnlab.site.launch import free_port, stack_env, stack_start, stack_wait
from tests.helpers import process_alive, process_descendants

pytestmark = pytest.mark.e2e


def _names(pids) -> str:
    def cmdline(pid):
        try:
            return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            return b""

    return b"\n".join(cmdline(pid) for pid in pids).decode(errors="replace")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_make_run_stops_every_child_when_make_alone_is_signalled(tmp_path, stop_signal):
    port = free_port()
    env = stack_env(port=port, data_dir=tmp_path)
    sandbox_port = int(env["LEARNLAB_SANDBOX_URL"].rsplit(":", 1)[1])
    make = stack_start(env, make=True, stdout=subprocess.PIPE, text=True)
    processes: set[int] = set()
    try:
        stack_wait(make, port)
        processes = process_descendants(make.pid)
        described = _names(processes)
        for part in ("runstack", "learnlab.sandbox.server", "qcluster", "gunicorn"):
            assert part in described

        os.kill(make.pid, stop_signal)  # make's pid only, not its group
        started = time.monotonic()
        output, _ = make.communicate(timeout=20)
        took = time.monotonic() - started
        assert make.returncode == -stop_signal  # make dies of the signal, as make does
        assert "stopped" in output
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(process_alive(p) for p in processes):
            time.sleep(0.1)
        left = [pid for pid in processes if process_alive(pid)]
        assert left == [], _names(left)
        assert _port_free(port) and _port_free(sandbox_port)
        assert took < 15  # the task cluster's grace period (5 s) and the rest
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
        for pid in processes:  # each child has a session of its own
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)
