"""What /healthz reports: the database, the sandbox server and the task cluster."""

from django.db import connection as db

from learnlab.sandbox import connection
from learnlab.sandbox.models import Sandbox
from learnlab.ticker.services import STALE_AFTER_SECONDS, clock_heartbeat_age


def database_health() -> dict:
    try:
        with db.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:
        return {"ok": False, "error": str(error)}
    return {"ok": True, "vendor": db.vendor}


def sandbox_server_health() -> dict:
    try:
        servers = connection.health_each(timeout=2.0)
    except connection.SANDBOX_ERRORS as error:
        return {"ok": False, "error": str(error)}
    return {
        "ok": True,
        "servers": len(servers),
        # Sandboxes of a restarted server that the lab clock has yet to rebuild.
        "rebuilding": Sandbox.objects.filter(status=Sandbox.Status.LOST).count(),
        "accounts": sum(facts["accounts"] for facts in servers),
        "rss_kib": sum(facts["rss_kib"] for facts in servers),
    }


def task_cluster_health() -> dict:
    try:
        age = clock_heartbeat_age()
    except Exception as error:
        return {"ok": False, "error": str(error)}
    if age is None:
        return {"ok": False, "last_heartbeat_age_s": None, "error": "no heartbeat yet"}
    return {"ok": age <= STALE_AFTER_SECONDS, "last_heartbeat_age_s": round(age, 1)}
