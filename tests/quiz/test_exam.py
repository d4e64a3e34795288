"""Exam mode through the pages: draw, answer, flag, navigate, time, submit, review."""

import re

import pytest
from django.test import Client
from django.utils.html import escape

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
    assert "/lab/instance-role/#step-2" in text
    empty = client.post("/quiz/practice/", {"item": item.id})
    assert empty.status_code == 400 and b"first." in empty.content


def test_the_timer_form_never_redirects_off_site(client):
    exam = _start(client)
    response = client.post(
        f"/quiz/exam/{exam.pk}/timer/", {"action": "extend", "next": "https://evil.example/"}
    )
    assert response.headers["Location"] == f"/quiz/exam/{exam.pk}/"


def test_previous_keeps_the_answers_given(client):
    exam = _start(client)
    bank = load_bank()
    first, second = (bank[i] for i in exam.item_ids[:2])
    one = [str(i) for i in sorted(first.correct)]
    client.post(f"/quiz/exam/{exam.pk}/1/", {"choice": one, "go": "next"})
    two = [str(i) for i in sorted(second.correct)]
    back = client.post(f"/quiz/exam/{exam.pk}/2/", {"choice": two, "go": "previous"})
    assert back.headers["Location"] == f"/quiz/exam/{exam.pk}/1/"
    page = client.get(f"/quiz/exam/{exam.pk}/1/").content.decode()
    assert "Previous" not in page and "Save and next" in page
    for value in one:
        assert f'value="{value}"\n          checked' in page
    # Moving back again without ticking anything keeps question 2's answer.
    client.post(f"/quiz/exam/{exam.pk}/1/", {"go": "next"})
    page = client.get(f"/quiz/exam/{exam.pk}/2/").content.decode()
    assert "Previous" in page
    exam.refresh_from_db()
    assert exam.answers == {first.id: sorted(first.correct), second.id: sorted(second.correct)}


def _submit_with(client, exam, right: int):
    bank = load_bank()
    for number, item_id in enumerate(exam.item_ids, start=1):
        item = bank[item_id]
        chosen = (
            item.correct
            if number <= right
            else sorted(set(range(len(item.options))) - item.correct)[:1]
        )
        client.post(f"/quiz/exam/{exam.pk}/{number}/", {"choice": [str(i) for i in chosen]})
    client.post(f"/quiz/exam/{exam.pk}/submit/")
    exam.refresh_from_db()
    return exam


def test_results_name_each_exam_point_by_its_title(client):
    from learnlab.quiz.bank import POINT_TITLES

    exam = _submit_with(client, _start(client), right=4)
    review = client.get(f"/quiz/exam/{exam.pk}/review/").content.decode()
    for item_id in exam.item_ids:
        point = load_bank()[item_id].points[0]
        assert f"{point}: {escape(POINT_TITLES[point])}" in review


def test_the_review_can_show_only_what_was_missed(client):
    exam = _submit_with(client, _start(client), right=7)
    everything = client.get(f"/quiz/exam/{exam.pk}/review/").content.decode()
    assert everything.count("<h3 ") == 10
    assert "Show only what I missed (3)" in everything
    missed = client.get(f"/quiz/exam/{exam.pk}/review/?missed=1").content.decode()
    assert missed.count("<h3 ") == 3
    assert re.findall(r"Question (\d+): (\w+)</h3>", missed) == [
        ("8", "wrong"),
        ("9", "wrong"),
        ("10", "wrong"),
    ]
    assert "Show every answer" in missed


def test_retake_what_was_missed_is_a_new_exam_of_exactly_those_items(client):
    exam = _submit_with(client, _start(client), right=6)
    response = client.post(f"/quiz/exam/{exam.pk}/retake/")
    retake = Exam.objects.latest("pk")
    assert retake.pk != exam.pk
    assert response.headers["Location"] == f"/quiz/exam/{retake.pk}/1/"
    assert retake.item_ids == exam.item_ids[6:]
    assert retake.time_limit_seconds == 4 * 120 and retake.answers == {}
    page = client.get(f"/quiz/exam/{retake.pk}/1/").content.decode()
    assert "question 1 of 4" in page
    # A perfect exam has nothing to retake: said, not a 500.
    perfect = _submit_with(client, retake, right=4)
    said = client.post(f"/quiz/exam/{perfect.pk}/retake/", follow=True).content.decode()
    assert "nothing to retake" in said
    assert Exam.objects.count() == 2
    # An exam not yet submitted cannot be retaken.
    fresh = _start(client)
    said = client.post(f"/quiz/exam/{fresh.pk}/retake/", follow=True).content.decode()
    assert "Submit this exam first" in said
    assert Client().post(f"/quiz/exam/{exam.pk}/retake/").status_code == 404


def test_a_bank_too_small_for_the_exam_asked_is_said_before_it_starts(client):
    from learnlab.quiz.bank import items_for

    available = len(items_for(exam="CLF-C02"))
    assert available < 30
    hub = client.get("/quiz/").content.decode()
    assert f"{available} CLF-C02 questions" in hub
    response = client.post("/quiz/exam/", {"exam": "CLF-C02", "count": 30, "timed": "on"})
    assert response.status_code == 200 and not Exam.objects.exists()
    page = response.content.decode()
    assert f"The question bank has {available} CLF-C02 questions, fewer than the 30" in page
    assert f"Start a {available}-question exam" in page
    started = client.post(
        "/quiz/exam/", {"exam": "CLF-C02", "count": 30, "timed": "on", "fewer": "1"}
    )
    exam = Exam.objects.get()
    assert started.headers["Location"] == f"/quiz/exam/{exam.pk}/1/"
    assert len(exam.item_ids) == available
    assert exam.time_limit_seconds == available * 120
