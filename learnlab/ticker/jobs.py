"""Jobs the task cluster runs on a schedule (created by migrations/0002_clock_schedule.py)."""

from learnlab.ticker.services import clock_run

# The schedule fires every minute; running a little longer overlaps the next run, which waits
# for the lease, so the clock never stops between runs.
CLOCK_RUN_SECONDS = 63


def run_clock() -> int:
    return clock_run(seconds=CLOCK_RUN_SECONDS)
