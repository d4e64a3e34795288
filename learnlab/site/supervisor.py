"""One command runs the whole stack: the sandbox server, the task cluster and the web server.

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
import gc
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from django.conf import settings

from learnlab.sandbox import connection

PR_SET_PDEATHSIG = 1
# The task cluster's clock job holds a worker for a minute and django-q2 waits for running tasks,
# so children get a short grace period before the rest of their group is killed.
STOP_GRACE_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 10.0
TASK_CLUSTER = "task cluster"


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _release_freed_memory() -> None:
    """Hand back to the system what ``runstack``'s migrate and collectstatic left freed: the
    supervisor then lives for days on a fraction of it (glibc keeps freed heap otherwise)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


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
    def __init__(self, *, port: int, host: str, dev: bool, out=sys.stdout):
        self.port, self.host, self.dev, self.out = port, host, dev, out
        self.stopping = False
        sandbox = urllib.parse.urlsplit(settings.LEARNLAB_SANDBOX_URL)
        env = {
            **os.environ,
            "LEARNLAB_SANDBOX_URL": settings.LEARNLAB_SANDBOX_URL,
            "LEARNLAB_SANDBOX_SECRET": settings.LEARNLAB_SANDBOX_SECRET,
            "PYTHONUNBUFFERED": "1",
        }
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        if dev:
            env["DEBUG"] = "1"
            web = [python, manage, "runserver", f"{host}:{port}"]
        else:
            # The asyncio worker reads requests whole before a thread runs Django
            # (learnlab/site/web.py), so slow clients cost no thread.
            web = [
                os.path.join(os.path.dirname(python), "gunicorn"),
                "learnlab.site.web:application",
                f"--bind={host}:{port}",
                "--worker-class=learnlab.site.web.Worker",
                f"--workers={os.environ.get('WEB_CONCURRENCY', '2')}",
                "--worker-connections=1000",
                "--graceful-timeout=5",
                # Pages poll every 1-3 s: keep their connections. Also the time a client has
                # to send a request's headers (learnlab/site/web.py).
                "--keep-alive=10",
                "--no-control-socket",
                f"--chdir={settings.BASE_DIR}",
            ]
        servers = settings.LEARNLAB_SANDBOX_SERVERS
        sandbox_argv = [python, "-m", "learnlab.sandbox.server", f"--host={sandbox.hostname}"]
        self.children = [
            Child(
                "sandbox server" + (f" {index + 1}" if servers > 1 else ""),
                [*sandbox_argv, f"--port={sandbox.port + index}"],
                env=env,
            )
            for index in range(servers)
        ] + [
            Child(TASK_CLUSTER, [python, manage, "qcluster"], env=env),
            Child("web", web, env=env),
        ]

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
        _release_freed_memory()
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        self.make = ParentMake()
        try:
            servers = settings.LEARNLAB_SANDBOX_SERVERS
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
            self._kick_clock()
            if not self._wait_for(self._web_answers, 30):
                if self.stopping:
                    return 0
                self.say("the web server did not start; see its output above")
                return 1
            self.say(f"LearnLab is up: http://{self._display_host()}:{self.port}/  (Ctrl-C stops)")
            while not self.stopping:
                self._restart_the_fallen()
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

    def stop(self) -> None:
        for child in reversed(self.children):
            child.signal_group(signal.SIGTERM)
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
        try:
            connection.health_each(timeout=1.0)
        except connection.SANDBOX_ERRORS:
            return False
        return True

    def _web_answers(self) -> bool:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host  # noqa: S104
        try:
            with urllib.request.urlopen(f"http://{host}:{self.port}/healthz", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answered; /healthz says what is not well yet
        except OSError:
            return False

    def _display_host(self) -> str:
        return "localhost" if self.host in ("0.0.0.0", "127.0.0.1") else self.host  # noqa: S104

    def _kick_clock(self) -> None:
        """Start the lab clock now rather than at the scheduler's first check (~30 s)."""
        from django_q.tasks import async_task

        async_task("learnlab.ticker.jobs.run_clock", task_name="lab clock (start)")
