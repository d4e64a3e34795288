"""LearnLab's processes started from outside, for tests and benchmarks: a sandbox server, or the
whole stack under ``manage.py runstack`` (or ``make run``), on free ports with settings of their
own. ``make run`` itself is the supervisor (``supervisor.py``); this only starts it or its parts.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Settings that would point a started stack at the developer's own database, broker, keys,
# ports or number of sandbox servers.
NOT_INHERITED = (
    "DATABASE_URL",
    "LEARNLAB_REDIS_URL",
    "LEARNLAB_SANDBOX_SERVERS",
    "LEARNLAB_SANDBOX_URLS",
    "SECRET_KEY",
    "DEBUG",
    "PORT",
    "HOST",
)


class LaunchError(Exception):
    """A process did not start, or did not answer in time."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_run(count: int) -> int:
    """A free port followed by ``count - 1`` more free ports (sandbox servers' ports)."""
    for _ in range(100):
        port = free_port()
        try:
            for offset in range(1, count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return port
    raise LaunchError(f"no {count} consecutive free ports")


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
    except OSError:
        return False
    return True


def sandbox_server_start(
    *, port: int, secret: str, env: dict | None = None, wait: float = 30.0, **popen
) -> subprocess.Popen:
    """``python -m learnlab.sandbox.server`` on ``port``, returned once it accepts connections
    (killed, and LaunchError, if it has not within ``wait`` seconds; 0: return at once).
    ``popen`` goes to Popen: ``stdout``, ``start_new_session``, ``preexec_fn``..."""
    command = [sys.executable, "-m", "learnlab.sandbox.server", "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        env={**(os.environ if env is None else env), "LEARNLAB_SANDBOX_SECRET": secret},
        cwd=ROOT,
        **popen,
    )
    if not wait:
        return process
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and process.poll() is None:
        if _listening(port):
            return process
        time.sleep(0.1)
    process.kill()
    process.wait()
    raise LaunchError(f"the sandbox server on port {port} did not start")


def stack_env(*, port: int, data_dir: Path, servers: int = 1, **settings: str) -> dict:
    """The environment of a stack of its own: this one's minus NOT_INHERITED, web on ``port``,
    ``servers`` sandbox servers on free consecutive ports, data in ``data_dir``; then
    ``settings`` (names as in the environment)."""
    env = {name: value for name, value in os.environ.items() if name not in NOT_INHERITED}
    return env | {
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "LEARNLAB_DATA_DIR": str(data_dir),
        "LEARNLAB_SANDBOX_URL": f"http://127.0.0.1:{free_port_run(servers)}",
        "LEARNLAB_SANDBOX_SERVERS": str(servers),
        **settings,
    }


def stack_start(env: dict, *, make: bool = False, **popen) -> subprocess.Popen:
    """``manage.py runstack`` (``make run`` with ``make``) in a session of its own, so that
    ``stack_stop`` reaches all its processes. Output goes nowhere unless ``popen`` says."""
    command = (
        ["make", "--no-print-directory", "run"]
        if make
        else [sys.executable, "manage.py", "runstack"]
    )
    popen = {"stdout": subprocess.DEVNULL, "stderr": subprocess.STDOUT} | popen
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, **popen)


def healthz(port: int) -> tuple[int | None, dict | None]:
    """``/healthz``'s status and document, (None, None) when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except (OSError, ValueError):
        return None, None


def stack_wait(process: subprocess.Popen, port: int, timeout: float = 90.0) -> float:
    """Wait until ``/healthz`` answers 200; returns the seconds it took. LaunchError with the
    last answer if the stack exits or is not healthy within ``timeout``."""
    started = time.monotonic()
    status, body = None, None
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise LaunchError(f"the stack exited with {process.returncode}")
        status, body = healthz(port)
        if status == 200:
            return time.monotonic() - started
        time.sleep(0.25)
    raise LaunchError(f"/healthz not healthy after {timeout:.0f} s: {status} {body}")


def stack_stop(process: subprocess.Popen, signum=signal.SIGINT, timeout: float = 30.0) -> None:
    """``signum`` to the stack's whole session (as Ctrl-C does), SIGKILL after ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
