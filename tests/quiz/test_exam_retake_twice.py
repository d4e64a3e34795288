"""A retake posted twice (a double click, a resent form, two tabs) lands on the same new exam;
a retake asked again after that one is submitted is a new attempt."""

import threading

import pytest
from django.db import connections
from django.test import Client

from learnlab.quiz.bank import load_bank
from learnlab.quiz.models import Exam
from learnlab.quiz.services import exam_retake


def _submitted(client, right: int) -> Exam:
    client.post("/quiz/exam/", {"exam": "SAA-C03", "count": 10, "timed": "on"})
    exam = Exam.objects.latest("pk")
    bank = load_bank()
    for number, item_id in enumerate(exam.item_ids, start=1):
        item = bank[item_id]
        wrong = sorted(set(range(len(item.options))) - item.correct)[:1]
        chosen = item.correct if number <= right else wrong
        client.post(f"/quiz/exam/{exam.pk}/{number}/", {"choice": [str(i) for i in chosen]})
    client.post(f"/quiz/exam/{exam.pk}/submit/")
    exam.refresh_from_db()
    assert exam.submitted_at
    return exam


@pytest.mark.django_db
def test_a_double_posted_retake_lands_on_the_same_new_exam(client):
    exam = _submitted(client, right=6)

    first = client.post(f"/quiz/exam/{exam.pk}/retake/")
    second = client.post(f"/quiz/exam/{exam.pk}/retake/")

    retakes = Exam.objects.exclude(pk=exam.pk)
    assert retakes.count() == 1
    retake = retakes.get()
    assert first.headers["Location"] == second.headers["Location"]
    assert first.headers["Location"] == f"/quiz/exam/{retake.pk}/1/"
    assert retake.item_ids == exam.item_ids[6:]


@pytest.mark.django_db
def test_a_retake_after_the_first_is_submitted_is_a_new_attempt(client):
    exam = _submitted(client, right=6)
    client.post(f"/quiz/exam/{exam.pk}/retake/")
    first = Exam.objects.latest("pk")
    client.post(f"/quiz/exam/{first.pk}/submit/")

    again = client.post(f"/quiz/exam/{exam.pk}/retake/")

    second = Exam.objects.latest("pk")
    assert second.pk not in (exam.pk, first.pk)
    assert again.headers["Location"] == f"/quiz/exam/{second.pk}/1/"
    assert Exam.objects.count() == 3


@pytest.mark.django_db
def test_another_learners_unsubmitted_exam_is_never_the_retake(client):
    """The same items started by someone else are theirs, not this learner's retake."""
    exam = _submitted(client, right=6)
    other = Exam.objects.create(
        learner=exam.learner.__class__.objects.create(),
        exam=exam.exam,
        item_ids=exam.item_ids[6:],
    )

    client.post(f"/quiz/exam/{exam.pk}/retake/")

    retake = Exam.objects.latest("pk")
    assert retake.pk != other.pk and retake.learner_id == exam.learner_id
    assert Client().post(f"/quiz/exam/{retake.pk}/retake/").status_code == 404


@pytest.mark.django_db(transaction=True)  # the two posts run in threads of their own
def test_two_retakes_at_once_make_one_exam(client):
    exam = _submitted(client, right=6)
    start = threading.Barrier(2)
    made: list[int] = []

    def retake():
        try:
            start.wait(5)
            made.append(exam_retake(exam=Exam.objects.get(pk=exam.pk)).pk)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=retake) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(made) == 2 and made[0] == made[1]
    assert Exam.objects.count() == 2
