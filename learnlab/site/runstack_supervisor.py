"""The process that watches the stack once ``manage.py runstack`` has set it up: no Django.

``runstack`` migrates, collects static files, queues the lab clock's first run and writes down
what to start (``site/supervisor.py``: the plan); then it replaces itself (``os.execv``, same
pid) with ``python -m learnlab.site.runstack_supervisor``, which reads the plan from the
environment and only watches: it imports nothing of Django or LearnLab's apps, so it holds
about 12 MiB instead of a Django process's 75-140 (bench/memory.py). It tells the sandbox
servers and the web server are up by plain HTTP, and a task cluster it restarts gets the
clock's kick from a short-lived Django subprocess (``KICK_CLOCK``).

Each child runs in its own process group, so the supervisor alone receives Ctrl-C and stops the
children in order (web first, sandbox server last), killing whatever outlives the grace period.
A child that dies unexpectedly is restarted; if the supervisor itself is killed, the kernel sends
each child SIGTERM (PR_SET_PDEATHSIG), so nothing is left behind.

Under ``make run``, make is the parent. Sent SIGINT or SIGTERM itself (not through the terminal,
which signals the whole foreground group), GNU make forwards SIGTERM only, and then waits for
its child: SIGINT would leave it waiting on a stack that never stops. The one trace make leaves
is that it resets the signal to its default as its handler starts, so the supervisor watches
its parent's caught signals (``/proc/<ppid>/status``) and stops when make stops catching one.
"""

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

PLAN_VARIABLE = "LEARNLAB_RUNSTACK_PLAN"
PR_SET_PDEATHSIG = 1
# The task cluster's clock job holds a worker for a minute and django-q2 waits for running tasks,
# so children get a short grace period before the rest of their group is killed.
STOP_GRACE_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 10.0
TASK_CLUSTER = "task cluster"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Run by a restarted task cluster's supervisor, in BASE_DIR: queue the lab clock's run now
# rather than at the scheduler's first check (~30 s). A Django process for a second or two.
KICK_CLOCK = (
    "import os, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'learnlab.settings');"
    " django.setup(); from learnlab.site.supervisor import kick_clock; kick_clock()"
)


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def caught_signals(pid: int) -> set[int] | None:
    """The signals process ``pid`` has handlers for (Linux ``SigCgt``), None if unknown."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    mask = int(line.split()[1], 16)
                    return {n for n in range(1, 65) if mask & (1 << (n - 1))}
    except (OSError, ValueError):
        return None
    return None


class ParentMake:
    """Tells when the ``make`` that started this process began handling a stop signal."""

    def __init__(self):
        self.pid = os.getppid()
        try:
            with open(f"/proc/{self.pid}/comm") as comm:
                name = comm.read().strip()
        except OSError:
            name = ""
        caught = caught_signals(self.pid) if name in ("make", "gmake") else None
        self.watched = {s for s in STOP_SIGNALS if caught and s in caught}

    def stopping(self) -> int | None:
        """The stop signal make no longer catches (it is handling it), else None."""
        if not self.watched:
            return None
        if os.getppid() != self.pid:
            return signal.SIGTERM  # make is gone
        caught = caught_signals(self.pid)
        if caught is None:
            return None
        return next((s for s in sorted(self.watched) if s not in caught), None)


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff_until: float = 0.0
    env: dict = field(default_factory=dict)

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.started_at = time.monotonic()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, signum: int) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)


class Supervisor:
    """Starts, watches and stops the children a plan names (``site/supervisor.py``'s ``plan``)."""

    def __init__(self, plan: dict, *, out=sys.stdout):
        self.plan, self.out = plan, out
        self.stopping = False
        self.kicks: list[subprocess.Popen] = []
        self.env = {**os.environ, **plan.get("env", {})}
        self.children = [Child(c["name"], c["argv"], env=self.env) for c in plan["children"]]

    def say(self, message: str) -> None:
        print(f"[learnlab] {message}", file=self.out, flush=True)

    def request_stop(self, signum, _frame) -> None:
        if not self.stopping:
            self.say(f"{signal.Signals(signum).name} received: stopping")
        self.stopping = True

    def _watch_make(self) -> None:
        if (signum := self.make.stopping()) is not None and not self.stopping:
            self.say(f"make received {signal.Signals(signum).name}: stopping")
            self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        self.make = ParentMake()
        try:
            servers = self.plan["sandbox_processes"]
            sandboxes, others = self.children[:servers], self.children[servers:]
            for sandbox in sandboxes:
                sandbox.start()
            if not self._wait_for(self._sandbox_answers, 20):
                if self.stopping:
                    return 0
                self.say("the sandbox server did not start; see its output above")
                return 1
            for child in others:
                child.start()
            if not self._wait_for(self._web_answers, 30):
                if self.stopping:
                    return 0
                self.say("the web server did not start; see its output above")
                return 1
            self.say(f"LearnLab is up: {self.plan['display_url']}  (Ctrl-C stops)")
            while not self.stopping:
                self._restart_the_fallen()
                self._reap_kicks()
                self._watch_make()
                time.sleep(0.25)
            return 0
        finally:
            self.stop()

    def _restart_the_fallen(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.running() or now < child.backoff_until:
                continue
            if child.backoff_until == 0.0:
                # Killed with -9, its own children (the task cluster's workers) live on and
                # would hold the clock's lease: the rest of its group goes too.
                child.signal_group(signal.SIGKILL)
                code = child.process.returncode if child.process else None
                child.restarts += 1
                delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** min(child.restarts - 1, 5))
                if now - child.started_at > 60:
                    delay = 0.5  # it ran fine for a while: no crash loop
                self.say(f"{child.name} exited ({code}); restarting in {delay:.1f}s")
                child.backoff_until = now + delay
                continue
            child.backoff_until = 0.0
            child.start()
            if child.name == TASK_CLUSTER:
                self._kick_clock()

    def _kick_clock(self) -> None:
        """Queue the lab clock's run now (a Django subprocess: this process has no Django)."""
        self.kicks.append(
            subprocess.Popen(
                [sys.executable, "-c", KICK_CLOCK],
                cwd=self.plan["base_dir"],
                env=self.env,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        )

    def _reap_kicks(self) -> None:
        for kick in [k for k in self.kicks if k.poll() is not None]:
            self.kicks.remove(kick)
            if kick.returncode:
                self.say(f"the lab clock's kick failed ({kick.returncode}): it starts within ~30 s")

    def stop(self) -> None:
        for child in reversed(self.children):
            child.signal_group(signal.SIGTERM)
        for kick in self.kicks:
            with contextlib.suppress(ProcessLookupError):
                kick.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in reversed(self.children):
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} did not stop in time: killing it")
            # Whatever is left in the group (workers of a killed parent) goes too.
            child.signal_group(signal.SIGKILL)
            child.process.wait()
        for kick in self.kicks:
            try:
                kick.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                kick.kill()
                kick.wait()
        self.say("stopped")

    def _wait_for(self, ready, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.stopping:
            self._watch_make()
            if ready():
                return True
            if any(c.process and c.process.poll() is not None for c in self.children):
                return False
            time.sleep(0.1)
        return False

    def _sandbox_answers(self) -> bool:
        """Every listed sandbox server answers its health endpoint with a 200."""
        headers = {self.plan["secret_header"]: self.env.get("LEARNLAB_SANDBOX_SECRET", "")}
        for url in self.plan["sandbox_urls"]:
            # The list settings checked: http(s) URLs only (sandbox/connection.py).
            request = urllib.request.Request(f"{url}/_admin/health", headers=headers)  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=1.0) as response:  # noqa: S310
                    if response.status != 200:
                        return False
            except (OSError, ValueError):  # HTTPError (a refusal) is an OSError too
                return False
        return True

    def _web_answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.plan["health_url"], timeout=2):  # noqa: S310
                return True
        except urllib.error.HTTPError:
            return True  # it answered; /healthz says what is not well yet
        except OSError:
            return False


def main() -> int:
    try:
        plan = json.loads(os.environ.pop(PLAN_VARIABLE))
    except (KeyError, ValueError):
        print(
            f"[learnlab] {__name__} is started by `manage.py runstack` (make run), "
            f"which passes it what to run in {PLAN_VARIABLE}; run that instead",
            file=sys.stderr,
        )
        return 2
    return Supervisor(plan).run()


if __name__ == "__main__":
    sys.exit(main())
