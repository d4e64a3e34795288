"""The lab clock: real instance-credential proportions, run faster, within the SDKs' windows.

Real EC2 credentials live about 6 hours, are renewed about hourly, and a new set is available at
least 5 minutes before the old one expires (reference/imds.md §2). The lab divides the renewal
cadence by the speed (new key ids every lab-hour: 10 s at 360x) and the 6-hour lifetime too, but
never below what the SDKs need: botocore refreshes 15 and 10 minutes before Expiration and, handed
a set with less than 15 minutes plus 2-10 minutes of jitter left, extends it locally and keeps
using it past the gate's ExpiredToken (reference/imds.md §3.4-3.5). So a set lives at least its
renewal interval plus SERVED_FLOOR in real time: however fast the clock, the set the metadata
service serves always has more than SERVED_FLOOR left. Timestamps stay real UTC.
"""

from datetime import timedelta

from django.conf import settings

CREDENTIAL_LIFETIME = timedelta(hours=6)
RENEW_EVERY = timedelta(hours=1)
RENEW_LEAD = timedelta(minutes=5)
SPEEDS = range(1, 361)
SPEED_CHOICES = (1, 10, 30, 60, 120, 360)  # offered on pages; any of SPEEDS is valid
# botocore's largest static-stability window: ec2_credential_refresh_window (15 min) plus at most
# 10 min of jitter (botocore/utils.py, InstanceMetadataFetcher._evaluate_expiration).
SDK_EXTENSION_WINDOW = timedelta(minutes=25)
# The least real time left on any set the metadata service serves: over the extension window
# with 5 minutes to spare (a late tick, a slow request), "never serve < ~30 min remaining".
SERVED_FLOOR = timedelta(minutes=30)


def speed() -> int:
    return settings.LEARNLAB_CLOCK_SPEED


def real(lab: timedelta, *, at_speed: int | None = None) -> timedelta:
    """How long a lab duration lasts in real time."""
    return lab / (at_speed or speed())


def renew_after(*, at_speed: int | None = None) -> timedelta:
    """When a fresh set is due for renewal: hourly, and never later than the lead time before
    it expires."""
    return real(min(RENEW_EVERY, CREDENTIAL_LIFETIME - RENEW_LEAD), at_speed=at_speed)


def lifetime(*, at_speed: int | None = None) -> timedelta:
    """How long a set lives in real time: 6 lab-hours, but at least its renewal interval plus
    SERVED_FLOOR, so that it is served only while the SDKs' refresh windows are ahead of it."""
    return max(
        real(CREDENTIAL_LIFETIME, at_speed=at_speed), renew_after(at_speed=at_speed) + SERVED_FLOOR
    )


def served_remaining_min(*, at_speed: int | None = None) -> timedelta:
    """The least real time left on a set while it is the one served (it is served from issue
    until renewal, which comes at the latest renew_after later)."""
    return lifetime(at_speed=at_speed) - renew_after(at_speed=at_speed)


def at_floor(*, at_speed: int | None = None) -> bool:
    """Whether the floor, not 6 lab-hours, sets the lifetime at this speed."""
    return lifetime(at_speed=at_speed) > real(CREDENTIAL_LIFETIME, at_speed=at_speed)
