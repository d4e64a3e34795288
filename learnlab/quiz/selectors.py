from dataclasses import dataclass, field

from django.db.models import Max
from django.utils import timezone
from fsrs import Card

from learnlab.learners.models import Learner
from learnlab.quiz.bank import EXAM_POINTS, LAB_STEP, POINT_TITLES, Item, items_for, load_bank
from learnlab.quiz.models import Answer, LabMistake, ReviewCard
from learnlab.quiz.services import SCHEDULER


def due_item_ids(*, learner: Learner) -> list[str]:
    """Items whose review is due now, most overdue first."""
    bank = load_bank()
    due = ReviewCard.objects.filter(learner=learner, due__lte=timezone.now()).order_by(
        "due", "item_id"
    )
    return [card.item_id for card in due if card.item_id in bank]


def _interleaved(items: list[Item], after: str | None) -> Item | None:
    """The first of ``items`` whose exam point differs from ``after`` (the point of the item
    answered last), or the first when every one shares it."""
    return next((item for item in items if item.points[0] != after), items[0] if items else None)


def next_practice_item(*, learner: Learner, points: list[str], due_only: bool) -> Item | None:
    """The schedule's next item: due items first (most overdue first), then never-seen items
    taken in turn across the exam points, then the least recently answered; in each group, no
    two in a row from the same exam point when another is available."""
    bank = load_bank()
    candidates = {item.id: item for item in items_for(points=points)}
    last = (
        Answer.objects.filter(learner=learner)
        .order_by("-answered_at", "-pk")
        .values_list("item_id", flat=True)
        .first()
    )
    after = bank[last].points[0] if last in bank else None
    due = [bank[item_id] for item_id in due_item_ids(learner=learner) if item_id in candidates]
    if due:
        return _interleaved(due, after)
    if due_only:
        return None
    last_seen = dict(
        Answer.objects.filter(learner=learner, item_id__in=candidates)
        .values_list("item_id")
        .annotate(last=Max("answered_at"))
    )
    turn: dict[str, int] = {}  # an item's place among its point's items: round-robin order
    ranked = []
    for item in candidates.values():
        turn[item.points[0]] = turn.get(item.points[0], -1) + 1
        if item.id not in last_seen:
            ranked.append((turn[item.points[0]], EXAM_POINTS.index(item.points[0]), item))
    if ranked:
        return _interleaved([item for *_key, item in sorted(ranked, key=lambda r: r[:2])], after)
    oldest = sorted(last_seen, key=last_seen.get)
    return _interleaved([candidates[item_id] for item_id in oldest], after)


@dataclass
class Mastery:
    point: str
    title: str
    items: int
    answered: int
    score: float  # 0..1: recall probability of items last answered right, over all items
    lab_slug: str
    lab_step: int
    # Why items on this point are due now, when a lab mistake brought them (newest first).
    due_because: list[str] = field(default_factory=list)


def mistake_text(mistake: LabMistake) -> str:
    """What brought a lab mistake's items back, in the learner's words."""
    if mistake.source == LabMistake.Source.CHECK:
        return f"Due because step {mistake.step}'s check failed: {mistake.message}"
    if mistake.source == "terminal":  # labs.terminal_mistakes: an AWS error in the terminal
        return (
            f"Due because of an AWS error in step {mistake.step}'s terminal command: "
            f"{mistake.message}"
        )
    return f"Due because of an AWS error in step {mistake.step}'s console form: {mistake.message}"


def mastery(*, learner: Learner) -> list[Mastery]:
    """Per exam point, how well the learner holds it now; weakest first."""
    now = timezone.now()
    latest: dict[str, bool] = {}
    for item_id, correct in (
        Answer.objects.filter(learner=learner)
        .order_by("answered_at")
        .values_list("item_id", "correct")
    ):
        latest[item_id] = correct
    recall = {
        card.item_id: SCHEDULER.get_card_retrievability(Card.from_dict(card.card), now)
        for card in ReviewCard.objects.filter(learner=learner)
    }
    due_now = set(
        ReviewCard.objects.filter(learner=learner, due__lte=now).values_list("item_id", flat=True)
    )
    mistakes = list(LabMistake.objects.filter(learner=learner).order_by("-at", "-pk"))
    rows = []
    for point in EXAM_POINTS:
        on_point = items_for(points=[point])
        items = [item for item in on_point if item.points[0] == point]
        # The mistakes say why only while one of the point's items is due; checked once.
        point_due = any(item.id in due_now for item in on_point)
        answered = [item for item in items if item.id in latest]
        held = sum(recall.get(item.id, 0.0) for item in answered if latest[item.id])
        rows.append(
            Mastery(
                point=point,
                title=POINT_TITLES[point],
                items=len(items),
                answered=len(answered),
                score=held / len(items) if items else 0.0,
                lab_slug=LAB_STEP[point][0],
                lab_step=LAB_STEP[point][1],
                due_because=[
                    mistake_text(mistake)
                    for mistake in mistakes
                    if point_due and point in mistake.points
                ],
            )
        )
    return sorted(rows, key=lambda row: (row.score, row.point))
