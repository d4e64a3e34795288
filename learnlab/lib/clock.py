"""The lab clock: real instance-credential proportions, run faster.

Real EC2 credentials live about 6 hours, are renewed about hourly, and a new set is available at
least 5 minutes before the old one expires (reference/imds.md §2). The lab keeps the proportions
and divides every duration by the speed; timestamps stay real UTC.
"""

from datetime import timedelta

from django.conf import settings

CREDENTIAL_LIFETIME = timedelta(hours=6)
RENEW_EVERY = timedelta(hours=1)
RENEW_LEAD = timedelta(minutes=5)
SPEEDS = range(1, 361)
SPEED_CHOICES = (1, 10, 30, 60, 120, 360)  # offered on pages; any of SPEEDS is valid


def speed() -> int:
    return settings.LEARNLAB_CLOCK_SPEED


def real(lab: timedelta, *, at_speed: int | None = None) -> timedelta:
    """How long a lab duration lasts in real time."""
    return lab / (at_speed or speed())


def renew_after(*, at_speed: int | None = None) -> timedelta:
    """When a fresh set is due for renewal: hourly, and never later than the lead time before
    it expires."""
    return real(min(RENEW_EVERY, CREDENTIAL_LIFETIME - RENEW_LEAD), at_speed=at_speed)
