"""What ``manage.py runstack`` hands over to: the plan of the stack, then the watcher itself.

``runstack`` sets up with Django (migrate, collectstatic, the lab clock's first run queued), then
``hand_over`` replaces the process (same pid: make's child, Ctrl-C and the tests' kill all reach
it) with ``learnlab/site/runstack_supervisor.py``, which starts and watches the children without
Django: a Django process left watching held 95-140 MiB for days (bench/memory.py). The plan
(``plan``) is everything the watcher needs from settings, as JSON in its environment; the
sandbox servers' secret and address travel as the children's environment, as before.
"""

import json
import os
import sys
import urllib.parse

from django.conf import settings
from django.db import connections

from learnlab.sandbox import connection
from learnlab.site.runstack_supervisor import PLAN_VARIABLE, TASK_CLUSTER


def plan(*, port: int, host: str, dev: bool) -> tuple[dict, dict]:
    """(what to run, the environment to run it in) from settings."""
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
            # The master imports the views before it forks: the workers share them.
            "--config=python:learnlab.site.gunicorn_preload",
            f"--chdir={settings.BASE_DIR}",
        ]
    servers = settings.LEARNLAB_SANDBOX_SERVERS
    sandbox_argv = [python, "-m", "learnlab.sandbox.server", f"--host={sandbox.hostname}"]
    children = [
        {
            "name": "sandbox server" + (f" {index + 1}" if servers > 1 else ""),
            "argv": [*sandbox_argv, f"--port={sandbox.port + index}"],
        }
        for index in range(servers)
    ] + [
        {"name": TASK_CLUSTER, "argv": [python, manage, "qcluster"]},
        {"name": "web", "argv": web},
    ]
    local = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
    shown = "localhost" if host in ("0.0.0.0", "127.0.0.1") else host  # noqa: S104
    return {
        "children": children,
        "sandbox_processes": servers,
        "sandbox_urls": connection.server_urls(),
        "secret_header": connection.SECRET_HEADER,
        "health_url": f"http://{local}:{port}/healthz",
        "display_url": f"http://{shown}:{port}/",
        "base_dir": str(settings.BASE_DIR),
    }, env


def kick_clock() -> None:
    """Start the lab clock now rather than at the scheduler's first check (~30 s)."""
    from django_q.tasks import async_task

    async_task("learnlab.ticker.jobs.run_clock", task_name="lab clock (start)")


def hand_over(*, port: int, host: str, dev: bool) -> None:
    """Become the Django-free watcher (``os.execv``: the same pid); never returns."""
    what, env = plan(port=port, host=host, dev=dev)
    env[PLAN_VARIABLE] = json.dumps(what)
    connections.close_all()  # nothing of this process's database outlives the exec
    sys.stdout.flush()
    sys.stderr.flush()
    python = sys.executable
    os.execve(python, [python, "-m", "learnlab.site.runstack_supervisor"], env)  # noqa: S606
