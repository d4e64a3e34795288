"""Exam mode through the pages: draw, answer, flag, navigate, time, submit, review."""

import pytest
from django.test import Client

from learnlab.quiz.bank import load_bank
from learnlab.quiz.models import Answer, Exam
from learnlab.quiz.templatetags.quiz import code_spans

pytestmark = pytest.mark.django_db


def _start(client, count=10, timed=True):
    data = {"exam": "SAA-C03", "count": count}
    if timed:
        data["timed"] = "on"
    response = client.post("/quiz/exam/", data)
    assert response.status_code == 302
    return Exam.objects.latest("pk")


def test_an_exam_draws_across_the_points_and_times_two_minutes_a_question(client):
    exam = _start(client, count=20)
    bank = load_bank()
    assert len(exam.item_ids) == 20 == len(set(exam.item_ids))
    assert len({bank[i].points[0] for i in exam.item_ids}) >= 15
    assert all("SAA-C03" in bank[i].exams for i in exam.item_ids)
    assert exam.time_limit_seconds == 20 * 2 * 60


def test_answers_flags_and_navigation_are_kept(client):
    exam = _start(client)
    item = load_bank()[exam.item_ids[0]]
    right = [str(i) for i in sorted(item.correct)]
    response = client.post(
        f"/quiz/exam/{exam.pk}/1/", {"choice": right, "flag": "on", "go": "next"}
    )
    assert response.headers["Location"] == f"/quiz/exam/{exam.pk}/2/"
    exam.refresh_from_db()
    assert exam.answers[item.id] == sorted(item.correct)
    assert exam.flags == [item.id]
    page = client.get(f"/quiz/exam/{exam.pk}/").content.decode()
    assert "Question 1: answered, flagged" in page
    assert "9 questions not answered yet" in page


def test_submitting_scores_exactly_right_answers_and_shows_the_review(client):
    exam = _start(client)
    bank = load_bank()
    first, second = (bank[i] for i in exam.item_ids[:2])
    client.post(f"/quiz/exam/{exam.pk}/1/", {"choice": [str(i) for i in first.correct]})
    wrong = sorted(set(range(len(second.options))) - second.correct)[:1]
    client.post(f"/quiz/exam/{exam.pk}/2/", {"choice": [str(i) for i in wrong]})
    client.post(f"/quiz/exam/{exam.pk}/submit/")
    exam.refresh_from_db()
    assert exam.score == pytest.approx(1 / 10)
    assert Answer.objects.filter(mode="exam").count() == 10
    review = client.get(f"/quiz/exam/{exam.pk}/review/").content.decode()
    assert "You scored 10%: not a pass yet (the pass mark is 72%)" in review
    assert "Question 1: right" in review and "Question 2: wrong" in review
    assert code_spans(first.options[0].explanation) in review
    # Submitted answers can no longer change.
    client.post(f"/quiz/exam/{exam.pk}/2/", {"choice": [str(i) for i in second.correct]})
    exam.refresh_from_db()
    assert exam.score == pytest.approx(1 / 10)


def test_the_timer_can_be_extended_and_switched_off(client):
    exam = _start(client)
    client.post(f"/quiz/exam/{exam.pk}/timer/", {"action": "extend"})
    exam.refresh_from_db()
    assert exam.time_limit_seconds == 10 * 120 + 600
    client.post(f"/quiz/exam/{exam.pk}/timer/", {"action": "off"})
    exam.refresh_from_db()
    assert exam.time_limit_seconds is None
    assert "Untimed." in client.get(f"/quiz/exam/{exam.pk}/1/").content.decode()


def test_another_learner_cannot_open_an_exam(client):
    exam = _start(client)
    stranger = Client()
    for url in (
        f"/quiz/exam/{exam.pk}/",
        f"/quiz/exam/{exam.pk}/1/",
        f"/quiz/exam/{exam.pk}/review/",
    ):
        assert stranger.get(url).status_code == 404
    assert stranger.post(f"/quiz/exam/{exam.pk}/submit/").status_code == 404


def test_bad_exam_input_gets_a_message_not_an_error(client):
    response = client.post("/quiz/exam/", {"exam": "AZ-900", "count": "many"}, follow=True)
    assert b"Choose an exam and a number of questions" in response.content
    exam = _start(client)
    assert client.get(f"/quiz/exam/{exam.pk}/99/").status_code == 404
    response = client.post(f"/quiz/exam/{exam.pk}/1/", {"choice": ["9"]})
    assert response.status_code == 400
    assert b"not one of the options" in response.content


def test_practice_gives_feedback_with_every_explanation(client):
    page = client.get("/quiz/practice/?points=EP07").content.decode()
    item = next(i for i in load_bank().values() if f'value="{i.id}"' in page)
    response = client.post(
        "/quiz/practice/?points=EP07",
        {"item": item.id, "choice": [str(i) for i in item.correct]},
    )
    text = response.content.decode()
    assert "Right." in text
    for option in item.options:
        assert code_spans(option.explanation) in text
    assert "/lab/#step-2" in text
    empty = client.post("/quiz/practice/", {"item": item.id})
    assert empty.status_code == 400 and b"first." in empty.content


def test_the_timer_form_never_redirects_off_site(client):
    exam = _start(client)
    response = client.post(
        f"/quiz/exam/{exam.pk}/timer/", {"action": "extend", "next": "https://evil.example/"}
    )
    assert response.headers["Location"] == f"/quiz/exam/{exam.pk}/"
