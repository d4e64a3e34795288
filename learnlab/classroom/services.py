import base64
import logging
from datetime import datetime, timedelta

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.utils import timezone

from learnlab.classroom.models import (
    ANNOUNCEMENT_MAX,
    Classroom,
    HintReveal,
    LearnerReset,
    Membership,
)
from learnlab.labs.catalog import lab_get, labs_all
from learnlab.labs.models import StepResult
from learnlab.labs.services import lab_reset
from learnlab.learners.models import Learner
from learnlab.live.services import topic_changed, topic_fanout
from learnlab.sandbox import connection
from learnlab.sandbox.calls import RecordedCall
from learnlab.sandbox.models import Sandbox
from learnlab.sandbox.services import (
    ClockSpeedError,
    sandbox_call_record,
    sandbox_drop,
    sandbox_for_learner,
    sandbox_rebuild,
    sandbox_reset,
    sandbox_set_clock,
)

log = logging.getLogger(__name__)
INSTRUCTORS = "instructors"
UNDO_SECONDS = 60  # how long an instructor's reset can be undone
RESULT_FIELDS = ("step", "passed", "message", "warning", "attempts", "checked_at", "passed_at")


def _class_topics_of_learners(ids: list[str]) -> list[str]:
    """A learner's change (labs' step results, resets, rewinds) is their class board's and
    their own class area's (live pages)."""
    open_memberships = Membership.objects.filter(learner_id__in=ids, left_at=None)
    return [
        topic
        for pk, classroom_id in open_memberships.values_list("pk", "classroom_id")
        for topic in (f"board:{classroom_id}", f"member:{pk}")
    ]


topic_fanout("learner", _class_topics_of_learners)


class ClassroomError(ValueError):
    """Something the instructor or learner asked for cannot be done; the message says why."""


def instructor_grant(*, user) -> None:
    group, _ = Group.objects.get_or_create(name=INSTRUCTORS)
    user.groups.add(group)


def labs_chosen(slugs) -> list[str]:
    """The labs a class is to run, checked against the catalog: at least one, no unknown slug,
    no repeats (in the order given)."""
    known = labs_all()
    chosen = list(dict.fromkeys(str(slug) for slug in slugs or ()))
    unknown = [slug for slug in chosen if slug not in known]
    if unknown:
        raise ClassroomError(
            f"No lab is called {', '.join(repr(s[:64]) for s in unknown)}: choose from "
            f"{', '.join(known)}."
        )
    if not chosen:
        raise ClassroomError("Choose at least one lab for the class to run.")
    return chosen


def classroom_create(*, instructor, name: str, clock_speed: int = 60, labs=None) -> Classroom:
    """A new class with a fresh join code, running ``labs`` (slugs; the first is the main lab,
    where joining learners land; default: the catalog's default lab)."""
    extra = {}
    if labs is not None:
        chosen = labs_chosen(labs)
        extra = {"lab": chosen[0], "labs": chosen}
    for _ in range(5):  # 31^6 codes: a clash is rare, and retried
        try:
            with transaction.atomic():
                return Classroom.objects.create(
                    instructor=instructor, name=name, clock_speed=clock_speed, **extra
                )
        except IntegrityError:
            continue
    raise ClassroomError("Could not find a free join code; try again.")


def classroom_set_labs(*, classroom: Classroom, labs) -> list[str]:
    """Change the labs a class runs. The main lab stays while it is still chosen (learners'
    resets, rewinds and opened hints follow it), else the first chosen lab becomes main."""
    chosen = labs_chosen(labs)
    if classroom.lab not in chosen:
        classroom.lab = chosen[0]
    classroom.labs = [classroom.lab, *(slug for slug in chosen if slug != classroom.lab)]
    classroom.save(update_fields=["lab", "labs"])
    topic_changed(f"class:{classroom.pk}", f"board:{classroom.pk}")
    return classroom.labs


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
    topic_changed(f"board:{classroom.pk}")
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


def person_name(user) -> str:
    """How learners see who did something: the instructor's full name, else their username."""
    return (user.get_full_name() or user.get_username())[:150]


def classroom_set_clock(*, classroom: Classroom, speed: int, paused: bool, by=None) -> None:
    """The whole class's lab clock: speed for new credentials, rotation paused or running.

    A pause holds renewal (the ticker skips paused sandboxes) and freezes each set's time left:
    the ticker moves its Expiration and renewal time on by the time paused
    (``imds.credentials.credentials_hold``), so no SDK on an instance meets its refresh window
    or ExpiredToken during a demo, and resuming goes on from the time each set had left."""
    if classroom.closed_at is not None:
        raise ClassroomError("This class has ended: its clock no longer runs.")
    try:
        sandbox_set_clock(sandboxes=_member_sandboxes(classroom), speed=speed, paused=paused)
    except ClockSpeedError as error:
        raise ClassroomError(str(error)) from error
    now = timezone.now()
    if paused and classroom.paused_at is None:
        classroom.paused_at = now
    elif not paused:
        classroom.paused_at = None
    classroom.clock_speed, classroom.rotation_paused = speed, paused
    classroom.clock_set_at = now
    if by is not None:
        classroom.clock_set_by = person_name(by)
    fields = ["clock_speed", "rotation_paused", "paused_at", "clock_set_at", "clock_set_by"]
    classroom.save(update_fields=fields)
    members = _member_sandboxes(classroom).values_list("account_id", flat=True)
    topic_changed(
        f"class:{classroom.pk}", f"board:{classroom.pk}", *(f"creds:{a}" for a in members)
    )


def classroom_reveal_hint(*, classroom: Classroom, step: str, by=None) -> HintReveal:
    """Open a step's hint on every learner's lab page, saying who opened it."""
    lab = lab_get(classroom.lab)
    if lab is None or lab.step(step) is None:
        raise ClassroomError("That step is not in this class's lab.")
    name = person_name(by) if by is not None else classroom.instructor.get_username()
    reveal, _ = HintReveal.objects.get_or_create(
        classroom=classroom,
        step=step,
        defaults={"opened_by": name, "opened_at": timezone.now()},
    )
    if step not in classroom.revealed_hints:
        classroom.revealed_hints = [*classroom.revealed_hints, step]
        classroom.save(update_fields=["revealed_hints"])
        topic_changed(f"class:{classroom.pk}", f"board:{classroom.pk}")
    return reveal


def classroom_announce(*, classroom: Classroom, text: str) -> None:
    """A short note to the whole class (empty: take it down). Plain text, escaped when shown."""
    text = " ".join(text.split())
    if len(text) > ANNOUNCEMENT_MAX:
        raise ClassroomError(
            f"An announcement is at most {ANNOUNCEMENT_MAX} characters; this one has {len(text)}."
        )
    classroom.announcement = text
    classroom.announcement_at = timezone.now() if text else None
    classroom.save(update_fields=["announcement", "announcement_at"])
    topic_changed(f"class:{classroom.pk}")


def membership_stuck(*, membership: Membership, step: int | None) -> None:
    """The learner asks for help on ``step`` (None: they no longer need it)."""
    membership.stuck_step = step
    membership.stuck_at = timezone.now() if step is not None else None
    membership.save(update_fields=["stuck_step", "stuck_at"])
    topic_changed(f"member:{membership.pk}", f"board:{membership.classroom_id}")


def _decode_call(data: dict) -> RecordedCall:
    return RecordedCall(**{**data, "body": base64.b64decode(data["body"])})


def membership_reset(*, membership: Membership, by=None) -> LearnerReset:
    """Give one learner an empty sandbox and a fresh start on the lab, keeping what undoing it
    takes for ``UNDO_SECONDS`` (the sandbox's replay log and the step results) and, for good,
    the attempts made before (the export's history)."""
    learner = membership.learner
    lab = lab_get(membership.classroom.lab)
    sandbox = sandbox_for_learner(learner=learner)
    results = list(StepResult.objects.filter(learner=learner, lab=lab.slug).values(*RESULT_FIELDS))
    calls = [call.recorded().as_json() for call in sandbox.calls.all()]
    lab_reset(learner=learner, sandbox=sandbox, lab=lab)
    membership_stuck(membership=membership, step=None)
    return LearnerReset.objects.create(
        membership=membership,
        by=person_name(by) if by is not None else "",
        at=timezone.now(),
        history=[
            {"step": r["step"], "attempts": r["attempts"], "passed": r["passed"]} for r in results
        ],
        results=[_stored_result(r) for r in results],
        calls=calls,
    )


def _stored_result(values: dict) -> dict:
    passed_at = values["passed_at"]
    return values | {
        "checked_at": values["checked_at"].isoformat(),
        "passed_at": passed_at.isoformat() if passed_at else None,
    }


def reset_undoable(reset: LearnerReset, *, now=None) -> bool:
    now = now or timezone.now()
    return reset.undone_at is None and now - reset.at <= timedelta(seconds=UNDO_SECONDS)


def reset_undo(*, reset: LearnerReset) -> None:
    """Bring back the sandbox and progress a reset took, within ``UNDO_SECONDS``: the sandbox
    is emptied again (what the learner did since goes), its old replay log recorded anew and
    the account rebuilt from it, so every role, profile and instance has its old id; the step
    results come back as they were. The learner's lab keys change once more."""
    if not reset_undoable(reset):
        raise ClassroomError(
            f"A reset can be undone for {UNDO_SECONDS} seconds only; this one can no longer be."
        )
    membership = reset.membership
    learner = membership.learner
    lab = lab_get(membership.classroom.lab)
    sandbox = sandbox_for_learner(learner=learner)
    sandbox_reset(sandbox=sandbox)  # an empty log and account, whatever happened since
    for data in reset.calls:
        sandbox_call_record(sandbox=sandbox, call=_decode_call(data))
    sandbox_drop(sandbox=sandbox)
    sandbox.refresh_from_db()
    sandbox_rebuild(sandbox=sandbox)
    with transaction.atomic():
        StepResult.objects.filter(learner=learner, lab=lab.slug).delete()
        StepResult.objects.bulk_create(
            StepResult(learner=learner, lab=lab.slug, **_result_fields(data))
            for data in reset.results
        )
        reset.undone_at = timezone.now()
        reset.calls, reset.results = [], []
        reset.save(update_fields=["undone_at", "calls", "results"])
    topic_changed(f"learner:{learner.pk}")


def _result_fields(data: dict) -> dict:
    parse = datetime.fromisoformat
    return {
        **data,
        "checked_at": parse(data["checked_at"]),
        "passed_at": parse(data["passed_at"]) if data["passed_at"] else None,
    }


def resets_expire(*, now=None) -> int:
    """Drop the undo material of resets past their minute (the history stays)."""
    cutoff = (now or timezone.now()) - timedelta(seconds=UNDO_SECONDS)
    return LearnerReset.objects.filter(at__lt=cutoff, undone_at=None).update(calls=[], results=[])


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
    topic_changed(f"class:{classroom.pk}", f"board:{classroom.pk}")
    return dropped
