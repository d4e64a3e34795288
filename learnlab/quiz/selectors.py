from dataclasses import dataclass

from django.db.models import Max
from django.utils import timezone
from fsrs import Card

from learnlab.learners.models import Learner
from learnlab.quiz.bank import EXAM_POINTS, LAB_STEP, POINT_TITLES, Item, items_for, load_bank
from learnlab.quiz.models import Answer, ReviewCard
from learnlab.quiz.services import SCHEDULER


def due_item_ids(*, learner: Learner) -> list[str]:
    """Items whose review is due now, most overdue first."""
    bank = load_bank()
    due = ReviewCard.objects.filter(learner=learner, due__lte=timezone.now()).order_by("due")
    return [card.item_id for card in due if card.item_id in bank]


def next_practice_item(*, learner: Learner, points: list[str], due_only: bool) -> Item | None:
    """Due items first; then never-seen items; then the least recently answered."""
    bank = load_bank()
    candidates = {item.id: item for item in items_for(points=points)}
    due = [item_id for item_id in due_item_ids(learner=learner) if item_id in candidates]
    if due:
        return bank[due[0]]
    if due_only:
        return None
    last_seen = dict(
        Answer.objects.filter(learner=learner, item_id__in=candidates)
        .values_list("item_id")
        .annotate(last=Max("answered_at"))
    )
    unseen = [item for item_id, item in candidates.items() if item_id not in last_seen]
    if unseen:
        return unseen[0]
    oldest = min(last_seen, key=last_seen.get, default=None)
    return candidates.get(oldest)


@dataclass
class Mastery:
    point: str
    title: str
    items: int
    answered: int
    score: float  # 0..1: recall probability of items last answered right, over all items
    lab_step: int


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
    rows = []
    for point in EXAM_POINTS:
        items = [item for item in items_for(points=[point]) if item.points[0] == point]
        answered = [item for item in items if item.id in latest]
        held = sum(recall.get(item.id, 0.0) for item in answered if latest[item.id])
        rows.append(
            Mastery(
                point=point,
                title=POINT_TITLES[point],
                items=len(items),
                answered=len(answered),
                score=held / len(items) if items else 0.0,
                lab_step=LAB_STEP[point],
            )
        )
    return sorted(rows, key=lambda row: (row.score, row.point))
