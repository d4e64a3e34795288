"""`manage.py runstack` sets up with Django, then hands over (same pid) to a watcher without
Django (learnlab/site/runstack_supervisor.py): it holds a fraction of a Django process's memory
(issue 16, memory), and still restarts a killed task cluster with the lab clock's kick."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from learnlab.site.launch import ROOT, free_port, healthz, stack_env, stack_start, stack_wait
from tests.helpers import process_alive, process_cmdline, process_descendants

pytestmark = pytest.mark.e2e

# A Django process that ran runstack's set-up held 95-160 MiB RSS (bench/memory.py); the bare
# interpreter and the modules the watcher imports hold about 11-15.
SUPERVISOR_RSS_LIMIT_MIB = 40
PLAN_VARIABLE = "LEARNLAB_RUNSTACK_PLAN"  # learnlab/site/runstack_supervisor.py


def _rss_mib(pid: int) -> float:
    for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def _parent(pid: int) -> int:
    try:
        return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _cluster(supervisor: int) -> int:
    found = [
        pid
        for pid in process_descendants(supervisor)
        if b"qcluster" in process_cmdline(pid) and _parent(pid) == supervisor
    ]
    assert len(found) == 1, found
    return found[0]


def test_the_supervisor_holds_no_django_and_still_restarts_the_task_cluster_with_a_kick(tmp_path):
    port = free_port()
    env = stack_env(port=port, data_dir=tmp_path / "data")
    log = tmp_path / "stack.log"
    with log.open("w") as out:
        stack = stack_start(env, stdout=out, stderr=subprocess.STDOUT)
    try:
        stack_wait(stack, port)
        # The same pid as the runstack that make (or the test) started: signals still reach it.
        rss = _rss_mib(stack.pid)
        assert rss < SUPERVISOR_RSS_LIMIT_MIB, f"the supervisor holds {rss:.1f} MiB RSS"
        command = process_cmdline(stack.pid)
        assert b"learnlab.site.runstack_supervisor" in command, command
        assert b"runstack" in command  # what tests, benches and people look for in ps
        # The plan is the watcher's own: its children do not inherit it.
        child_environ = (Path("/proc") / str(_cluster(stack.pid)) / "environ").read_bytes()
        assert not [v for v in child_environ.split(b"\0") if v.startswith(PLAN_VARIABLE.encode())]

        cluster = _cluster(stack.pid)
        os.kill(cluster, signal.SIGKILL)
        deadline = time.monotonic() + 40
        restarted = None
        while time.monotonic() < deadline:
            try:
                restarted = _cluster(stack.pid)
            except AssertionError:
                restarted = None
            if restarted and restarted != cluster:
                break
            time.sleep(0.25)
        assert restarted and restarted != cluster, log.read_text()[-2000:]
        # The kick is a Django subprocess of the supervisor: it queues the clock's run and exits.
        deadline = time.monotonic() + 30
        kicks = []
        while time.monotonic() < deadline:
            kicks = [
                pid
                for pid in process_descendants(stack.pid)
                if b"kick_clock" in process_cmdline(pid) and process_alive(pid)
            ]
            if not kicks:
                break
            time.sleep(0.25)
        assert kicks == [], "the clock's kick did not finish within 30 s"
        text = log.read_text()
        assert "task cluster exited" in text, text[-2000:]
        assert "the lab clock's kick failed" not in text, text[-2000:]
        # The clock beats again (the killed run's lease lapses first, as in test_faults.py).
        deadline = time.monotonic() + 60
        age = None
        while time.monotonic() < deadline:
            _status, health = healthz(port)
            age = (health or {}).get("task_cluster", {}).get("last_heartbeat_age_s")
            if age is not None and age < 3:
                break
            time.sleep(0.5)
        assert age is not None and age < 3, f"the clock's heartbeat is {age} s old"
        assert _rss_mib(stack.pid) < SUPERVISOR_RSS_LIMIT_MIB  # restarts leave nothing behind
    finally:
        if stack.poll() is None:
            stack.send_signal(signal.SIGTERM)
            try:
                stack.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(stack.pid, signal.SIGKILL)
                stack.wait()
    assert stack.returncode == 0, log.read_text()[-2000:]
    assert "stopped" in log.read_text()


def test_the_watcher_started_by_hand_says_to_use_runstack():
    env = {name: value for name, value in os.environ.items() if name != PLAN_VARIABLE}
    result = subprocess.run(
        [sys.executable, "-m", "learnlab.site.runstack_supervisor"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "manage.py runstack" in result.stderr
    assert "Traceback" not in result.stderr
