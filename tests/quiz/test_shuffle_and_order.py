"""Options are shuffled per learner and item, stable on reload, and answers are scored by the
option's identity; practice follows the schedule: due first, then new, interleaved across points."""

import itertools
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from learnlab.learners.models import Learner
from learnlab.quiz.bank import load_bank
from learnlab.quiz.models import Answer, ReviewCard
from learnlab.quiz.selectors import next_practice_item
from learnlab.quiz.services import answer_record

pytestmark = pytest.mark.django_db
VALUES = re.compile(r'name="choice" value="(\d+)"')


def _shown(client, url="/quiz/practice/"):
    """The item on the page and the identities of its options, in the order shown."""
    page = client.get(url).content.decode()
    item_id = re.search(r'name="item" value="([^"]+)"', page)[1]
    return item_id, [int(v) for v in VALUES.findall(page)]


def test_one_learner_sees_the_same_order_on_every_reload():
    client = Client()
    first = _shown(client, "/quiz/practice/?points=EP07")
    for _ in range(3):
        assert _shown(client, "/quiz/practice/?points=EP07") == first


def test_two_learners_see_different_orders_for_some_items():
    one, two = Learner.objects.create(), Learner.objects.create()
    items = list(load_bank().values())
    differ = [
        i.id
        for i in items
        if [n for n, _ in i.shuffled(one.pk)] != [n for n, _ in i.shuffled(two.pk)]
    ]
    assert len(differ) > len(items) / 2
    # ...and the bank file's order is not what a learner sees: the key is not always first.
    unshuffled = [
        i.id for i in items if [n for n, _ in i.shuffled(one.pk)] == list(range(len(i.options)))
    ]
    assert len(unshuffled) < len(items) / 4


def test_the_page_order_is_the_learners_hash_order():
    client = Client()
    item_id, shown = _shown(client, "/quiz/practice/?points=EP03")
    learner = Learner.objects.get(pk=client.session["learner_id"])
    assert shown == [n for n, _ in load_bank()[item_id].shuffled(learner.pk)]
    assert sorted(shown) == list(range(len(load_bank()[item_id].options)))


def test_an_answer_is_scored_by_the_options_identity_not_its_position():
    client = Client()
    # Find an item whose correct option is not shown where the bank file has it.
    for point in ("EP01", "EP04", "EP08", "EP12", "EP17"):
        item_id, shown = _shown(client, f"/quiz/practice/?points={point}")
        item = load_bank()[item_id]
        if item.kind == "single" and shown.index(min(item.correct)) != min(item.correct):
            break
    else:
        pytest.fail("every item showed its key in the bank file's position")
    (key,) = item.correct
    response = client.post(
        f"/quiz/practice/?points={point}", {"item": item_id, "choice": [str(key)]}
    )
    assert "Right." in response.content.decode()
    assert Answer.objects.get().chosen == [key] and Answer.objects.get().correct
    # The displayed position of the key, posted as if it were the answer, is scored wrong.
    position = shown.index(key)
    client.post(f"/quiz/practice/?points={point}", {"item": item_id, "choice": [str(position)]})
    assert Answer.objects.latest("pk").correct is False


def test_an_answer_stored_before_shuffling_still_reads_right_in_the_review(client):
    """Answers were always stored as the options' indexes in the bank file: they still read."""
    client.post("/quiz/exam/", {"exam": "SAA-C03", "count": 10})
    from learnlab.quiz.models import Exam

    exam = Exam.objects.get()
    item = load_bank()[exam.item_ids[0]]
    exam.answers = {item.id: sorted(item.correct)}  # as an old exam stored it
    exam.save()
    client.post(f"/quiz/exam/{exam.pk}/submit/")
    review = client.get(f"/quiz/exam/{exam.pk}/review/").content.decode()
    assert "Question 1: right" in review


@pytest.fixture
def learner():
    return Learner.objects.create()


def _answer(learner, item, right=True):
    wrong = sorted(set(range(len(item.options))) - item.correct)[:1]
    answer_record(
        learner=learner, item=item, chosen=sorted(item.correct) if right else wrong, mode="practice"
    )


def test_due_items_come_before_new_ones_and_new_ones_before_seen_ones(learner):
    bank = load_bank()
    seen = bank["ep07-second-role-limit-exceeded"]
    _answer(learner, seen, right=False)
    # Not due yet: a new item comes first, from another exam point than the one just answered.
    new = next_practice_item(learner=learner, points=[], due_only=False)
    assert new.id != seen.id and new.id not in {c.item_id for c in ReviewCard.objects.all()}
    assert new.points[0] != seen.points[0]
    ReviewCard.objects.update(due=timezone.now() - timedelta(seconds=1))
    assert next_practice_item(learner=learner, points=[], due_only=False) == seen


def test_new_items_come_in_turn_across_the_exam_points(learner):
    points = []
    for _ in range(25):
        item = next_practice_item(learner=learner, points=[], due_only=False)
        _answer(learner, item, right=True)  # right: not due again for days
        points.append(item.points[0])
    assert all(a != b for a, b in itertools.pairwise(points)), points
    assert len(set(points[:18])) == 18  # one round covers every exam point


def test_due_items_are_interleaved_across_points(learner):
    bank = load_bank()
    for point in ("EP04", "EP08"):
        for item in [i for i in bank.values() if i.points[0] == point][:3]:
            _answer(learner, item, right=False)
    ReviewCard.objects.update(due=timezone.now() - timedelta(minutes=1))
    order = []
    for _ in range(6):
        item = next_practice_item(learner=learner, points=[], due_only=True)
        order.append(item.points[0])
        _answer(learner, item, right=True)
    assert order == ["EP04", "EP08"] * 3
    assert next_practice_item(learner=learner, points=[], due_only=True) is None


def test_one_point_alone_still_gives_its_items(learner):
    chosen = next_practice_item(learner=learner, points=["EP16"], due_only=False)
    _answer(learner, chosen)
    again = next_practice_item(learner=learner, points=["EP16"], due_only=False)
    assert again.points[0] == "EP16" and again != chosen
