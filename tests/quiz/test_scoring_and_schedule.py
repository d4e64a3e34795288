"""Scoring (single, multiple, partial = wrong) and the spaced-repetition schedule."""

from datetime import timedelta

import pytest
from django.utils import timezone

from learnlab.learners.models import Learner
from learnlab.quiz.bank import Item, Option, load_bank
from learnlab.quiz.models import ReviewCard
from learnlab.quiz.selectors import due_item_ids, mastery, next_practice_item
from learnlab.quiz.services import QuizInputError, answer_record, chosen_indexes


def _item(kind, correct):
    count = 4 if kind == "single" else 5
    options = tuple(Option(f"option {i}", i in correct, f"because {i}") for i in range(count))
    return Item("ep07-x", ("EP07",), ("SAA-C03",), "easy", kind, "stem (Choose TWO.)", options)


def test_a_single_answer_item_scores_its_one_option():
    item = _item("single", {2})
    assert item.is_right([2])
    assert not item.is_right([1])


def test_a_multiple_answer_item_scores_only_when_exactly_right():
    item = _item("multiple", {0, 3})
    assert item.is_right([3, 0])
    assert not item.is_right([0])  # partial is wrong
    assert not item.is_right([0, 3, 4])  # a superset is wrong
    assert not item.is_right([])


def test_bad_choices_get_a_message_that_says_what_to_do():
    single, multiple = _item("single", {1}), _item("multiple", {0, 1})
    with pytest.raises(QuizInputError, match="Choose an answer first"):
        chosen_indexes(single, [])
    with pytest.raises(QuizInputError, match="Choose 2 answers first"):
        chosen_indexes(multiple, [])
    with pytest.raises(QuizInputError, match="Choose only one"):
        chosen_indexes(single, ["0", "1"])
    with pytest.raises(QuizInputError, match="not one of the options"):
        chosen_indexes(single, ["7"])
    with pytest.raises(QuizInputError, match="not one of the options"):
        chosen_indexes(single, ["<script>"])
    assert chosen_indexes(multiple, ["1", "0", "1"]) == [0, 1]


@pytest.fixture
def learner(db):
    return Learner.objects.create()


@pytest.fixture
def item():
    return next(i for i in load_bank().values() if i.kind == "single")


def test_a_wrong_answer_comes_back_sooner_than_a_right_one(learner, item):
    other = next(i for i in load_bank().values() if i.id != item.id)
    wrong = sorted(set(range(len(other.options))) - other.correct)[:1]
    answer_record(learner=learner, item=item, chosen=sorted(item.correct), mode="practice")
    answer_record(learner=learner, item=other, chosen=wrong, mode="practice")
    right_card = ReviewCard.objects.get(learner=learner, item_id=item.id)
    wrong_card = ReviewCard.objects.get(learner=learner, item_id=other.id)
    assert wrong_card.due < right_card.due
    assert wrong_card.due <= timezone.now() + timedelta(minutes=11)


def test_a_second_right_answer_pushes_the_review_further_out(learner, item):
    answer_record(learner=learner, item=item, chosen=sorted(item.correct), mode="practice")
    first = ReviewCard.objects.get(learner=learner, item_id=item.id).due
    ReviewCard.objects.filter(learner=learner).update(due=timezone.now())
    answer_record(learner=learner, item=item, chosen=sorted(item.correct), mode="practice")
    assert ReviewCard.objects.get(learner=learner, item_id=item.id).due > first


def test_due_items_come_first_in_practice(learner, item):
    answer_record(learner=learner, item=item, chosen=[], mode="practice")
    assert due_item_ids(learner=learner) == []  # not due for a few minutes
    ReviewCard.objects.filter(learner=learner).update(due=timezone.now() - timedelta(seconds=1))
    assert due_item_ids(learner=learner) == [item.id]
    assert next_practice_item(learner=learner, points=[], due_only=True) == item
    assert next_practice_item(learner=learner, points=[], due_only=False) == item


def test_mastery_puts_the_weakest_point_first(learner):
    bank = load_bank()
    point_items = [i for i in bank.values() if i.points[0] == "EP07"]
    for item in point_items:
        answer_record(learner=learner, item=item, chosen=sorted(item.correct), mode="practice")
    rows = mastery(learner=learner)
    assert rows[-1].point == "EP07" and rows[-1].score > 0.9
    assert rows[0].score == 0.0
