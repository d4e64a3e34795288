"""Answering, scheduling and exams.

Spaced repetition uses FSRS (the ``fsrs`` package, Anki's current scheduler): it models each
item's memory stability and schedules the next review when recall would drop to 90 %, which fits
a small bank better than SM-2's fixed ease steps. A right answer rates Good, a wrong one Again.
"""

import random
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from fsrs import Card, Rating, Scheduler

from learnlab.learners.models import Learner
from learnlab.quiz.bank import EXAM_POINTS, Item, items_for, load_bank
from learnlab.quiz.models import Answer, Exam, LabMistake, ReviewCard

SCHEDULER = Scheduler(enable_fuzzing=False)
# The scaled pass marks, as a share of a perfect score (AWS: 700 and 720 out of 1000).
PASS_MARK = {"CLF-C02": 0.70, "SAA-C03": 0.72}
MINUTES_PER_ITEM = 2  # about the real exams' pace (130 minutes for 65 items)
EXTENSION = timedelta(minutes=10)
# A safety net over the unique (learner, lab, step, source, reason) rows: AWS error codes are a
# bounded set, but a learner's table stays small whatever the sandbox answers.
MISTAKES_PER_LEARNER = 50


class QuizInputError(ValueError):
    """Input the learner can fix; the message says how."""


def chosen_indexes(item: Item, raw_values) -> list[int]:
    """Parse the options a learner ticked, refusing what the item cannot accept."""
    try:
        chosen = sorted({int(value) for value in raw_values})
    except (TypeError, ValueError) as error:
        raise QuizInputError("That answer was not one of the options. Choose again.") from error
    if any(not 0 <= index < len(item.options) for index in chosen):
        raise QuizInputError("That answer was not one of the options. Choose again.")
    if not chosen:
        raise QuizInputError(
            "Choose an answer first."
            if item.kind == "single"
            else f"Choose {item.choose} answers first."
        )
    if item.kind == "single" and len(chosen) > 1:
        raise QuizInputError("Choose only one answer.")
    return chosen


@transaction.atomic
def answer_record(*, learner: Learner, item: Item, chosen: list[int], mode: str) -> Answer:
    """Store an answer and move the item's review schedule."""
    correct = item.is_right(chosen)
    answer = Answer.objects.create(
        learner=learner, item_id=item.id, chosen=chosen, correct=correct, mode=mode
    )
    review = ReviewCard.objects.filter(learner=learner, item_id=item.id).first()
    card = Card.from_dict(review.card) if review else Card()
    card, _log = SCHEDULER.review_card(card, Rating.Good if correct else Rating.Again)
    ReviewCard.objects.update_or_create(
        learner=learner,
        item_id=item.id,
        defaults={"card": card.to_dict(), "due": card.due, "reviewed_at": timezone.now()},
    )
    return answer


def exam_start(*, learner: Learner, exam: str, count: int, timed: bool) -> Exam:
    """Draw ``count`` items for ``exam``, spread across the exam points."""
    pool = items_for(exam=exam)
    if not pool:
        raise QuizInputError("There are no questions for that exam yet.")
    by_point: dict[str, list[Item]] = {point: [] for point in EXAM_POINTS}
    for item in random.sample(pool, len(pool)):
        by_point[item.points[0]].append(item)
    drawn: list[str] = []
    while len(drawn) < min(count, len(pool)):
        for point in EXAM_POINTS:  # one per point per round: every point gets its share
            if by_point[point] and len(drawn) < count:
                drawn.append(by_point[point].pop().id)
    random.shuffle(drawn)
    return Exam.objects.create(
        learner=learner,
        exam=exam,
        item_ids=drawn,
        time_limit_seconds=len(drawn) * MINUTES_PER_ITEM * 60 if timed else None,
    )


def exam_missed(*, exam: Exam) -> list[str]:
    """The items of a submitted exam not answered exactly right, in the exam's order."""
    bank = load_bank()
    return [
        item_id
        for item_id in exam.item_ids
        if item_id in bank and not bank[item_id].is_right(exam.answers.get(item_id, []))
    ]


@transaction.atomic
def exam_retake(*, exam: Exam) -> Exam:
    """A new exam of exactly the items missed in ``exam``, timed as it was. Asked again while
    that retake is not yet submitted (a double post, two tabs), the same retake: the lock on
    ``exam`` makes a second request wait for the first's, then find it."""
    exam = Exam.objects.select_for_update().get(pk=exam.pk)
    if not exam.submitted_at:
        raise QuizInputError("Submit this exam first; then you can retake what you missed.")
    missed = exam_missed(exam=exam)
    if not missed:
        raise QuizInputError("You missed nothing in this exam, so there is nothing to retake.")
    waiting = Exam.objects.filter(
        learner=exam.learner,
        exam=exam.exam,
        submitted_at__isnull=True,
        started_at__gte=exam.submitted_at,
    ).order_by("pk")
    for candidate in waiting:
        if candidate.item_ids == missed:
            return candidate
    return Exam.objects.create(
        learner=exam.learner,
        exam=exam.exam,
        item_ids=missed,
        time_limit_seconds=(
            len(missed) * MINUTES_PER_ITEM * 60 if exam.time_limit_seconds is not None else None
        ),
    )


def exam_save_answer(*, exam: Exam, item: Item, chosen: list[int], flagged: bool) -> None:
    if exam.submitted_at:
        raise QuizInputError("This exam is already submitted; its answers can no longer change.")
    if chosen:
        exam.answers[item.id] = chosen
    flags = set(exam.flags)
    flags.add(item.id) if flagged else flags.discard(item.id)
    exam.flags = sorted(flags)
    exam.save(update_fields=["answers", "flags"])


def exam_extend(*, exam: Exam) -> None:
    if exam.time_limit_seconds is not None and not exam.submitted_at:
        exam.time_limit_seconds += int(EXTENSION.total_seconds())
        exam.save(update_fields=["time_limit_seconds"])


def exam_timer_off(*, exam: Exam) -> None:
    if not exam.submitted_at:
        exam.time_limit_seconds = None
        exam.save(update_fields=["time_limit_seconds"])


@transaction.atomic
def exam_submit(*, exam: Exam) -> Exam:
    """Grade the exam once: record every answer (and schedule the items) and the score."""
    exam = Exam.objects.select_for_update().get(pk=exam.pk)
    if exam.submitted_at:
        return exam
    bank = load_bank()
    right = 0
    for item_id in exam.item_ids:
        item = bank[item_id]
        chosen = exam.answers.get(item_id, [])
        right += item.is_right(chosen)
        answer_record(learner=exam.learner, item=item, chosen=chosen, mode=Answer.Mode.EXAM)
    exam.score = right / len(exam.item_ids)
    exam.submitted_at = timezone.now()
    exam.save(update_fields=["score", "submitted_at"])
    return exam


@dataclass
class PointResult:
    point: str
    right: int
    total: int

    @property
    def share(self) -> float:
        return self.right / self.total if self.total else 0.0


def exam_breakdown(*, exam: Exam) -> list[PointResult]:
    """Right answers per exam point (an item counts for every point it is tagged with)."""
    bank = load_bank()
    results: dict[str, PointResult] = {}
    for item_id in exam.item_ids:
        item = bank[item_id]
        for point in item.points:
            result = results.setdefault(point, PointResult(point, 0, 0))
            result.total += 1
            result.right += item.is_right(exam.answers.get(item_id, []))
    return sorted(results.values(), key=lambda r: (r.share, r.point))


@transaction.atomic
def lab_mistake_record(
    *,
    learner: Learner,
    lab: str,
    step: int,
    points: tuple[str, ...] | list[str],
    source: str,
    reason: str,
    message: str,
) -> LabMistake:
    """A mistake met in a lab (a failed check, an AWS error in a console form) makes every
    quiz item on the step's exam points due now, and is kept to say why they are due.

    One row per learner, lab, step, source and reason: a repeat updates its text and time."""
    now = timezone.now()
    mistake, _ = LabMistake.objects.update_or_create(
        learner=learner,
        lab=lab[:80],
        step=step,
        source=source,
        reason=reason[:80],
        defaults={"message": message[:400], "points": list(points), "at": now},
    )
    _lab_mistakes_cap(learner)
    item_ids = [item.id for item in items_for(points=points)]
    ReviewCard.objects.filter(learner=learner, item_id__in=item_ids, due__gt=now).update(due=now)
    have = set(
        ReviewCard.objects.filter(learner=learner, item_id__in=item_ids).values_list(
            "item_id", flat=True
        )
    )
    ReviewCard.objects.bulk_create(
        [
            ReviewCard(
                learner=learner, item_id=item_id, card=Card().to_dict(), due=now, reviewed_at=now
            )
            for item_id in item_ids
            if item_id not in have
        ],
        ignore_conflicts=True,
    )
    return mistake


@transaction.atomic
def lab_mistakes_merge(*, source: Learner, target: Learner) -> None:
    """Move ``source``'s lab mistakes to ``target`` (an account's learner), keeping the newer of
    two with the same step and reason. For the account merge, which moves the due cards too."""
    for mistake in LabMistake.objects.filter(learner=source):
        existing = LabMistake.objects.filter(
            learner=target,
            lab=mistake.lab,
            step=mistake.step,
            source=mistake.source,
            reason=mistake.reason,
        ).first()
        if existing is None:
            mistake.learner = target
            mistake.save(update_fields=["learner"])
        elif mistake.at > existing.at:
            existing.message, existing.points, existing.at = (
                mistake.message,
                mistake.points,
                mistake.at,
            )
            existing.save(update_fields=["message", "points", "at"])
    LabMistake.objects.filter(learner=source).delete()
    _lab_mistakes_cap(target)


def _lab_mistakes_cap(learner: Learner) -> None:
    """Keep a learner's newest MISTAKES_PER_LEARNER lab mistakes, the older ones forgotten."""
    stale = LabMistake.objects.filter(learner=learner).order_by("-at", "-pk")[MISTAKES_PER_LEARNER:]
    LabMistake.objects.filter(pk__in=list(stale.values_list("pk", flat=True))).delete()
