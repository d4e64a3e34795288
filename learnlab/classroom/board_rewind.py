"""The instructor rewinds one learner from the board: their sandbox back to just before a step
they reached (``labs/rewind.py``, the same ids), and a notice on the learner's class area
saying who did it, when and to which step.

The notice is a small record in Django's cache (the database's cache table, or Redis), kept
for a day like the reset's notice, under the membership: the learner's page reads it with
``rewind_notice``.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.utils import timezone

from learnlab.classroom.models import Membership
from learnlab.classroom.services import membership_stuck, person_name
from learnlab.labs.catalog import Lab, Step
from learnlab.labs.rewind import RewindPoint, RewindRefused, lab_rewind, rewind_points
from learnlab.sandbox import connection
from learnlab.sandbox.models import Sandbox

NOTICE_KEPT = timedelta(days=1)


class NothingToRewind(RewindRefused):
    """The learner has no sandbox, so nothing to rewind."""


@dataclass(frozen=True)
class RewindNotice:
    by: str
    at: datetime
    step_number: int
    step_title: str


def _key(membership_id: int) -> str:
    return f"classroom-rewind:{membership_id}"


def membership_rewind_points(*, membership: Membership, lab: Lab) -> list[RewindPoint]:
    """The steps the instructor can rewind this learner to (those the learner reached)."""
    return rewind_points(learner=membership.learner, lab=lab)


def membership_rewind(*, membership: Membership, lab: Lab, step: Step, by=None) -> int:
    """Rewind the learner's sandbox to just before ``step`` and tell them so on their page;
    their "I'm stuck" request is answered (cleared). Returns how many recorded calls were
    undone. The learner's sandbox is not touched as used (the board's idle time stays theirs).

    Raises RewindRefused when the learner has not reached ``step`` (NothingToRewind: no
    sandbox); connection.SANDBOX_ERRORS when the sandbox server does not answer, after the
    rewind is recorded (the sandbox comes back rewound on its next use, and the notice says
    so already)."""
    sandbox = Sandbox.objects.filter(learner=membership.learner).first()
    if sandbox is None:
        raise NothingToRewind("They have no sandbox yet, so there is nothing to rewind.")
    try:
        undone = lab_rewind(learner=membership.learner, sandbox=sandbox, lab=lab, step=step)
    except connection.SANDBOX_ERRORS:
        _notify(membership, step, by)  # recorded: it is rebuilt rewound when the server answers
        raise
    _notify(membership, step, by)
    return undone


def _notify(membership: Membership, step: Step, by) -> None:
    membership_stuck(membership=membership, step=None)
    cache.set(
        _key(membership.pk),
        {
            "by": person_name(by) if by is not None else "",
            "at": timezone.now().isoformat(),
            "step_number": step.number,
            "step_title": step.title,
        },
        timeout=int(NOTICE_KEPT.total_seconds()),
    )


def rewind_notice(*, membership: Membership | None) -> RewindNotice | None:
    """The instructor's last rewind of this learner, within a day (None: none)."""
    if membership is None:
        return None
    stored = cache.get(_key(membership.pk))
    if not isinstance(stored, dict):
        return None
    try:
        return RewindNotice(
            by=str(stored["by"]),
            at=datetime.fromisoformat(stored["at"]),
            step_number=int(stored["step_number"]),
            step_title=str(stored["step_title"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
