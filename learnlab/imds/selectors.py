from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.exceptions import ClientError

from learnlab.gate.client import aws_client
from learnlab.imds.models import InstanceCredentials
from learnlab.lib import clock
from learnlab.sandbox import connection
from learnlab.sandbox.models import AccessKey, Sandbox

# The timeline's geometry, in SVG units (CSS pixels when drawn 1:1: on a phone it scrolls
# sideways instead of shrinking, so its 11-px labels stay 11 px). A gutter on the left names
# each row's key; the bars share the rest under an axis with a tick at every renewal.
TIMELINE_WIDTH = 640
TIMELINE_ROWS = 6
ROW_HEIGHT = 22
BAR_HEIGHT = 16
AXIS_HEIGHT = 30
GUTTER = 84  # the key ids' column: "…" and the last 6 characters
BARS_LEFT = GUTTER + 8
BARS_RIGHT = TIMELINE_WIDTH - 28  # room for the last tick's label, centred on it
CHAR_WIDTH = 6.8  # an 11-px monospace character (0.6 em), with a little to spare
LABEL_PAD = 4
MINUS = "\N{MINUS SIGN}"
# The timeline shows the renewal cadence: the last six renewal intervals and two ahead. Sets
# that outlive the window (every handed-out set at high speeds, whose floor is 30 real
# minutes) run off its right edge with their expiry time written on them.
TIMELINE_PAST_RENEWALS = 6
TIMELINE_AHEAD_RENEWALS = 2


@dataclass
class TimelineBar:
    key_id: str
    x: float
    width: float
    y: int
    kind: str  # current, valid (handed out, superseded), withdrawn, expired
    runs_on: bool  # expires after the window's right edge
    expires: str  # HH:MM:SS UTC
    # Its expiry written beside or on it, where the text fits ("" for none): at label_x, anchored
    # "start" or "end", on the bar (on_bar: the bar's own text colour) or on the background.
    label: str = ""
    label_x: float = 0.0
    label_anchor: str = "start"
    on_bar: bool = False


@dataclass
class TimelineTick:
    x: float
    label: str  # "-5 min" (with a minus sign), "now", "+1 min"
    now: bool = False


@dataclass
class Renewal:
    """Whether the lab clock renews this instance's credentials, and if not, why not."""

    active: bool
    reason: str = ""  # a sentence for the page when renewal has stopped
    # Whether the metadata service still hands out the current set (only while renewing, or
    # while an instructor's pause holds renewal).
    served: bool = True


def renewal_state(*, sandbox: Sandbox, instance_id: str) -> Renewal:
    """What the ticker does for this instance, from the instance as the sandbox server sees it
    (state and profile) and the sandbox (an instructor's pause)."""
    try:
        instance = connection.instance_get(sandbox.account_id, instance_id)
    except connection.SandboxServerError:
        instance = None
    except connection.SandboxServerUnavailable:
        return Renewal(True)  # restarting: say nothing false; the next poll knows
    if instance is None or instance["state"] in ("terminated", "shutting-down"):
        return Renewal(False, f"{instance_id} is terminated: renewal has stopped.", False)
    if instance["state"] != "running":
        return Renewal(
            False, f"{instance_id} is {instance['state']}: nothing on it runs, and renewal "
            "has stopped.", False,
        )  # fmt: skip
    profile = instance["profile"]
    if profile is None:
        return Renewal(
            False, f"No instance profile is attached to {instance_id}: renewal has stopped, "
            "and its metadata service serves no credentials (no iam/ tree).", False,
        )  # fmt: skip
    if not profile["exists"]:
        return Renewal(False, "The instance profile was deleted: renewal has stopped.", False)
    if profile["role"] is None:
        return Renewal(False, "The instance profile holds no role: renewal has stopped.", False)
    if not profile["role"]["trusts_ec2"]:
        return Renewal(False, "The role no longer trusts EC2: renewal has stopped.", False)
    if sandbox.rotation_paused:
        return Renewal(False, "Your instructor paused rotation for a demo: renewal has stopped.")
    return Renewal(True)


def _hms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M:%S")


def _span(delta: timedelta) -> str:
    """A short duration for the axis: 40 s, 5 min, 2 h."""
    seconds = abs(delta.total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def _tick_label(offset: timedelta, unit: tuple[int, str]) -> str:
    """An axis tick's offset from now, in one unit for the whole axis: -90 s, -1.5 min, +2 h
    (typeset with a minus sign)."""
    seconds = offset.total_seconds()
    if abs(seconds) < 0.5:
        return "now"
    value = f"{abs(seconds) / unit[0]:.1f}".removesuffix(".0")
    return f"{MINUS if seconds < 0 else '+'}{value} {unit[1]}"


def _axis_unit(every: timedelta) -> tuple[int, str]:
    seconds = every.total_seconds()
    if seconds < 60:
        return (1, "s")
    if seconds < 3600:
        return (60, "min")
    return (3600, "h")


def _text_width(text: str) -> float:
    return len(text) * CHAR_WIDTH


def _place_label(bar: TimelineBar, now_x: float) -> None:
    """Write a bar's expiry where it fits in its own row (nothing else is drawn there but the
    now line): on the bar right of now, right-aligned at its visible end; else on the bar left
    of now; else just after the bar; else just before it; else nowhere (its tooltip still
    says). Only for sets that have not expired or been withdrawn: an ended bar's end is its
    expiry, drawn."""
    if bar.kind not in ("current", "valid"):
        return
    text = f"expires {bar.expires}"
    width = _text_width(text) + 2 * LABEL_PAD
    start, end = bar.x, bar.x + bar.width
    if end - max(start, now_x + 1) >= width:
        bar.label_x, bar.label_anchor, bar.on_bar = end - LABEL_PAD, "end", True
    elif min(end, now_x - 1) - start >= width:
        bar.label_x, bar.label_anchor, bar.on_bar = start + LABEL_PAD, "start", True
    elif end + width <= BARS_RIGHT:  # a live set ends after now: clear of the now line
        bar.label_x, bar.label_anchor = end + LABEL_PAD, "start"
    elif start - width >= BARS_LEFT:  # and began before it
        bar.label_x, bar.label_anchor = start - LABEL_PAD, "end"
    else:
        return
    bar.label = text


def credentials_panel(*, sandbox: Sandbox, instance_id: str, now: datetime) -> dict:
    """What the live credentials panel shows: the current (or, once renewal has stopped, the
    last) set and its countdown from stored deadlines, why renewal stopped if it did, what the
    clock compresses, and the history as a timeline (whether the clock ticks: ticker's
    ``clock_ticking`` tag)."""
    speed = sandbox.lab_clock_speed
    renewal = renewal_state(sandbox=sandbox, instance_id=instance_id)
    sets = list(
        InstanceCredentials.objects.select_related("access_key")
        .filter(sandbox=sandbox, instance_id=instance_id)
        .order_by("-issued_at")[:TIMELINE_ROWS]
    )
    handed = [s for s in sets if not _withdrawn(s)]
    # The newest set never withdrawn: the one served now, or the last one served.
    latest = handed[0] if handed else None
    current = latest if latest is not None and latest.expires_at > now else None
    every = clock.renew_after(at_speed=speed)
    start = now - every * TIMELINE_PAST_RENEWALS
    end = now + every * TIMELINE_AHEAD_RENEWALS
    span = (end - start).total_seconds()

    def x_of(moment):
        seconds = (min(max(moment, start), end) - start).total_seconds()
        return round(BARS_LEFT + seconds / span * (BARS_RIGHT - BARS_LEFT), 1)

    def kind(s):
        if s.expires_at <= now or (_withdrawn(s) and s.forgotten_at <= now):
            return "withdrawn" if _withdrawn(s) else "expired"
        return "current" if s is current else "valid"

    now_x = x_of(now)
    bars = []
    for row, s in enumerate(sets):
        ends = s.forgotten_at if _withdrawn(s) else s.expires_at
        bar = TimelineBar(
            key_id=s.access_key.access_key_id,
            x=x_of(s.issued_at),
            width=max(2.0, x_of(ends) - x_of(s.issued_at)),
            y=AXIS_HEIGHT + row * ROW_HEIGHT,
            kind=kind(s),
            runs_on=ends > end,
            expires=_hms(s.expires_at),
        )
        _place_label(bar, now_x)
        bars.append(bar)
    unit = _axis_unit(every)
    ticks = [
        TimelineTick(x=x_of(now + every * k), label=_tick_label(every * k, unit), now=k == 0)
        for k in range(-TIMELINE_PAST_RENEWALS, TIMELINE_AHEAD_RENEWALS + 1)
    ]
    height = AXIS_HEIGHT + max(1, len(bars)) * ROW_HEIGHT + 4
    return {
        "current": current,
        "last": latest,
        "renewal": renewal,
        "seconds_left": int((current.expires_at - now).total_seconds()) if current else None,
        "expired_ago": (
            int((now - latest.expires_at).total_seconds())
            if latest is not None and current is None
            else None
        ),
        "renews_in": (
            max(0, int((current.renew_at - now).total_seconds()))
            if current and renewal.active
            else None
        ),
        "renew_every_seconds": round(every.total_seconds()),
        "lifetime_minutes": round(clock.lifetime(at_speed=speed).total_seconds() / 60),
        "served_floor_minutes": round(clock.SERVED_FLOOR.total_seconds() / 60),
        "at_floor": clock.at_floor(at_speed=speed),
        "bars": bars,
        "ticks": ticks,
        "now_x": now_x,
        "timeline_gutter": GUTTER,
        "bars_left": BARS_LEFT,
        "bars_right": BARS_RIGHT,
        "bar_height": BAR_HEIGHT,
        "axis_height": AXIS_HEIGHT,
        "axis_past": _span(now - start),
        "axis_ahead": _span(end - now),
        "timeline_height": height,
        "timeline_width": TIMELINE_WIDTH,
        "speed": speed,
        "speeds": clock.SPEED_CHOICES,
    }


def _withdrawn(s: InstanceCredentials) -> bool:
    """Superseded before anybody was handed it, and withdrawn by the ticker then."""
    return s.forgotten_at is not None and s.forgotten_at < s.expires_at


def cached_credentials_demo(
    *,
    sandbox: Sandbox,
    cached_key_id: str | None,
    current: InstanceCredentials | None,
    renewal: Renewal,
):
    """Two apps on the instance make the same call: one with the set it cached when the demo
    started, one with what the metadata service serves now (``current``, which the page shows),
    none once no profile is attached or the instance is not running (EP10, EP11)."""
    if not cached_key_id:
        return None
    cached = AccessKey.objects.filter(sandbox=sandbox, access_key_id=cached_key_id).first()

    def call(key):
        # LearnLab's own call on the learner's behalf: it must not count as the learner's use
        # of the role's credentials (step 5 asks for a call from the instance). The gate marks
        # every successful call's key used, so put back what the key's mark was before, unless
        # something else has moved it since.
        keys = AccessKey.objects.filter(pk=key.pk)
        before = keys.values_list("last_used_at", flat=True).first()
        try:
            arn = aws_client("sts", sandbox=sandbox, key=key).get_caller_identity()["Arn"]
        except ClientError as error:
            return {"ok": False, "text": f"{error.response['Error']['Code']}: "
                    f"{error.response['Error']['Message']}"}  # fmt: skip
        finally:
            after = keys.values_list("last_used_at", flat=True).first()
            if after != before:
                keys.filter(last_used_at=after).update(last_used_at=before)
        return {"ok": True, "text": f"works as {arn}"}

    if cached is None:
        cached_result = {"ok": False, "text": "InvalidClientTokenId: the cached key is gone"}
    else:
        cached_result = call(cached)
    if not renewal.served or current is None:
        fresh_key = None
        fresh_result = {
            "ok": False,
            "text": "NoCredentialsError: Unable to locate credentials (the metadata service "
            "serves none: " + (renewal.reason or "the last set expired") + ")",
        }
    else:
        fresh_key = current.access_key.access_key_id
        fresh_result = call(current.access_key)
    return {
        "cached_key": cached_key_id,
        "cached_expires": cached.expires_at if cached is not None else None,
        "cached": cached_result,
        "fresh_key": fresh_key,
        "fresh": fresh_result,
    }
