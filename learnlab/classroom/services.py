import logging

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.utils import timezone

from learnlab.classroom.models import Classroom, Membership
from learnlab.labs.catalog import lab_get
from learnlab.labs.services import lab_reset
from learnlab.learners.models import Learner
from learnlab.sandbox import connection
from learnlab.sandbox.models import Sandbox
from learnlab.sandbox.services import sandbox_drop, sandbox_for_learner, sandbox_set_clock_speed

log = logging.getLogger(__name__)
INSTRUCTORS = "instructors"


class ClassroomError(ValueError):
    """Something the instructor or learner asked for cannot be done; the message says why."""


def instructor_grant(*, user) -> None:
    group, _ = Group.objects.get_or_create(name=INSTRUCTORS)
    user.groups.add(group)


def classroom_create(*, instructor, name: str, clock_speed: int = 60) -> Classroom:
    for _ in range(5):  # 31^6 codes: a clash is rare, and retried
        try:
            with transaction.atomic():
                return Classroom.objects.create(
                    instructor=instructor, name=name, clock_speed=clock_speed
                )
        except IntegrityError:
            continue
    raise ClassroomError("Could not find a free join code; try again.")


def classroom_join(*, classroom: Classroom, learner: Learner, display_name: str) -> Membership:
    """Join (or rejoin) a class: one open class at a time, the class's clock, same sandbox."""
    if not classroom.is_open:
        raise ClassroomError("This class has ended. Ask your instructor for a new code.")
    now = timezone.now()
    with transaction.atomic():
        Membership.objects.filter(learner=learner, left_at=None).exclude(
            classroom=classroom
        ).update(left_at=now)
        membership, created = Membership.objects.get_or_create(
            classroom=classroom, learner=learner, defaults={"display_name": display_name}
        )
        if not created:
            membership.display_name, membership.left_at = display_name, None
            membership.save(update_fields=["display_name", "left_at"])
        learner.display_name = display_name
        learner.save(update_fields=["display_name"])
    sandbox = sandbox_for_learner(learner=learner)
    sandbox_set_clock_speed(sandbox=sandbox, speed=classroom.clock_speed)
    Sandbox.objects.filter(pk=sandbox.pk).update(rotation_paused=classroom.rotation_paused)
    return membership


def _member_sandboxes(classroom: Classroom):
    return Sandbox.objects.filter(
        learner__memberships__classroom=classroom, learner__memberships__left_at=None
    )


def classroom_set_clock(*, classroom: Classroom, speed: int, paused: bool) -> None:
    """The whole class's lab clock: speed for new credentials, rotation paused or running."""
    from learnlab.ticker.clock import SPEEDS

    if speed not in SPEEDS:
        raise ClassroomError(f"The lab clock runs from {SPEEDS[0]}x to {SPEEDS[-1]}x real time.")
    classroom.clock_speed, classroom.rotation_paused = speed, paused
    classroom.save(update_fields=["clock_speed", "rotation_paused"])
    _member_sandboxes(classroom).update(clock_speed=speed, rotation_paused=paused)


def classroom_reveal_hint(*, classroom: Classroom, step: str) -> None:
    lab = lab_get(classroom.lab)
    if lab is None or lab.step(step) is None:
        raise ClassroomError("That step is not in this class's lab.")
    if step not in classroom.revealed_hints:
        classroom.revealed_hints = [*classroom.revealed_hints, step]
        classroom.save(update_fields=["revealed_hints"])


def membership_reset(*, membership: Membership) -> None:
    """Give one learner an empty sandbox and a fresh start on the lab."""
    learner = membership.learner
    lab_reset(
        learner=learner,
        sandbox=sandbox_for_learner(learner=learner),
        lab=lab_get(membership.classroom.lab),
    )


def classroom_close(*, classroom: Classroom) -> int:
    """End the class: results stay for the board and the export; sandboxes are dropped."""
    dropped = 0
    for sandbox in _member_sandboxes(classroom).exclude(status=Sandbox.Status.DROPPED):
        try:
            sandbox_drop(sandbox=sandbox)
            dropped += 1
        except connection.SandboxServerUnavailable:
            # Down: waiting out a connect timeout per learner would hold the instructor's
            # page for minutes. The idle reaper frees the rest.
            log.warning("sandbox server down while closing: the reaper frees the rest")
            break
        except connection.SandboxServerError:
            log.warning("could not drop sandbox %s when closing", sandbox.account_id)
    classroom.closed_at = timezone.now()
    classroom.save(update_fields=["closed_at"])
    return dropped
