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
from learnlab.sandbox.services import (
    ClockSpeedError,
    sandbox_drop,
    sandbox_for_learner,
    sandbox_set_clock,
)

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
    sandbox_for_learner(learner=learner)
    _follow_class_clock(classroom=classroom, learner=learner)
    return membership


def _follow_class_clock(*, classroom: Classroom, learner: Learner) -> None:
    sandbox_set_clock(
        sandboxes=Sandbox.objects.filter(learner=learner),
        speed=classroom.clock_speed,
        paused=classroom.rotation_paused,
    )


def membership_merge(*, source: Learner, target: Learner) -> None:
    """An anonymous learner signs in: their classes become the account's. Where both were in
    one class, this browser's membership wins; its open class is the account's open class, and
    the account's sandbox follows that class's clock."""
    now = timezone.now()
    open_class = None
    for membership in Membership.objects.filter(learner=source).select_related("classroom"):
        Membership.objects.filter(learner=target, classroom=membership.classroom).delete()
        if membership.left_at is None:
            Membership.objects.filter(learner=target, left_at=None).update(left_at=now)
            open_class = membership.classroom
        membership.learner = target
        membership.save(update_fields=["learner"])
    if open_class is not None:
        _follow_class_clock(classroom=open_class, learner=target)


def _member_sandboxes(classroom: Classroom):
    return Sandbox.objects.filter(
        learner__memberships__classroom=classroom, learner__memberships__left_at=None
    )


def classroom_set_clock(*, classroom: Classroom, speed: int, paused: bool) -> None:
    """The whole class's lab clock: speed for new credentials, rotation paused or running."""
    try:
        sandbox_set_clock(sandboxes=_member_sandboxes(classroom), speed=speed, paused=paused)
    except ClockSpeedError as error:
        raise ClassroomError(str(error)) from error
    classroom.clock_speed, classroom.rotation_paused = speed, paused
    classroom.save(update_fields=["clock_speed", "rotation_paused"])


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
