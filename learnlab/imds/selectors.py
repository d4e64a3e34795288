from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import ClientError

from learnlab.gate.client import aws_client
from learnlab.imds.models import InstanceCredentials
from learnlab.lib import clock
from learnlab.sandbox.models import AccessKey, Sandbox

TIMELINE_WIDTH = 600
TIMELINE_ROWS = 6


@dataclass
class TimelineBar:
    key_id: str
    x: float
    width: float
    y: int
    current: bool
    expired: bool


def credentials_panel(*, sandbox: Sandbox, instance_id: str, now: datetime) -> dict:
    """What the live credentials panel shows: the current set, a countdown computed from stored
    deadlines and the history as a timeline (whether the clock ticks: ticker's ``clock_ticking``
    tag)."""
    sets = list(
        InstanceCredentials.objects.select_related("access_key")
        .filter(sandbox=sandbox, instance_id=instance_id)
        .order_by("-issued_at")[:TIMELINE_ROWS]
    )
    current = next((s for s in sets if s.expires_at > now and s.superseded_at is None), None)
    current = current or next((s for s in sets if s.expires_at > now), None)
    lifetime = clock.real(clock.CREDENTIAL_LIFETIME, at_speed=sandbox.lab_clock_speed)
    start, end = now - lifetime, now + lifetime
    span = (end - start).total_seconds()

    def x_of(moment):
        seconds = (min(max(moment, start), end) - start).total_seconds()
        return round(seconds / span * TIMELINE_WIDTH, 1)

    bars = [
        TimelineBar(
            key_id=s.access_key.access_key_id,
            x=x_of(s.issued_at),
            width=max(2.0, x_of(s.expires_at) - x_of(s.issued_at)),
            y=row * 22,
            current=s is current,
            expired=s.expires_at <= now,
        )
        for row, s in enumerate(sets)
    ]
    return {
        "current": current,
        "seconds_left": int((current.expires_at - now).total_seconds()) if current else None,
        "renews_in": max(0, int((current.renew_at - now).total_seconds())) if current else None,
        "bars": bars,
        "now_x": x_of(now),
        "timeline_height": max(1, len(bars)) * 22 + 24,
        "timeline_width": TIMELINE_WIDTH,
        "speed": sandbox.lab_clock_speed,
        "speeds": clock.SPEED_CHOICES,
    }


def cached_credentials_demo(*, sandbox: Sandbox, instance_id: str, cached_key_id: str | None):
    """Two apps on the instance make the same call: one with the set it cached when the demo
    started, one with the set the metadata service serves now (EP10, EP11)."""
    if not cached_key_id:
        return None
    cached = AccessKey.objects.filter(sandbox=sandbox, access_key_id=cached_key_id).first()
    current = (
        InstanceCredentials.objects.select_related("access_key")
        .filter(sandbox=sandbox, instance_id=instance_id, superseded_at=None)
        .order_by("-issued_at")
        .first()
    )

    def call(key):
        if key is None:
            return {"ok": False, "text": "no credentials"}
        try:
            arn = aws_client("sts", sandbox=sandbox, key=key).get_caller_identity()["Arn"]
        except ClientError as error:
            return {"ok": False, "text": f"{error.response['Error']['Code']}: "
                    f"{error.response['Error']['Message']}"}  # fmt: skip
        return {"ok": True, "text": f"works as {arn}"}

    return {
        "cached_key": cached_key_id,
        "cached": call(cached),
        "fresh_key": current.access_key.access_key_id if current else None,
        "fresh": call(current.access_key if current else None),
    }
