"""Anonymous progress and sandbox join the account at sign-up and at log-in."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from learnlab.learners.models import Learner
from learnlab.quiz.bank import load_bank
from learnlab.quiz.models import Answer, ReviewCard
from learnlab.sandbox.models import Sandbox

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-enough-password-42"


def _answer_one(client, index=0):
    item = list(load_bank().values())[index]
    client.post("/quiz/practice/", {"item": item.id, "choice": [str(min(item.correct))]})
    return item


def test_sign_up_keeps_the_anonymous_progress_and_sandbox(sandbox_server):
    browser = Client()
    item = _answer_one(browser)
    browser.get("/sandbox/env")
    anonymous = Learner.objects.get()
    sandbox = Sandbox.objects.get(learner=anonymous)

    response = browser.post(
        "/accounts/signup/",
        {"username": "ada", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    learner = Learner.objects.get(user__username="ada")
    assert learner.pk == anonymous.pk
    assert Answer.objects.get(item_id=item.id).learner == learner
    assert Sandbox.objects.get(pk=sandbox.pk).learner == learner


def test_log_in_merges_a_second_device_into_the_account(sandbox_server):
    first = Client()
    _answer_one(first, 0)
    first.get("/sandbox/env")
    first.post(
        "/accounts/signup/", {"username": "ada", "password1": PASSWORD, "password2": PASSWORD}
    )
    account = Learner.objects.get(user__username="ada")
    kept_sandbox = Sandbox.objects.get(learner=account)

    second = Client()  # another device, anonymous, with its own answer and sandbox
    other_item = _answer_one(second, 1)
    second.get("/sandbox/env")
    assert Learner.objects.count() == 2

    response = second.post("/accounts/login/", {"username": "ada", "password": PASSWORD})
    assert response.status_code == 302
    assert Learner.objects.count() == 1
    assert Answer.objects.filter(learner=account).count() == 2
    assert ReviewCard.objects.filter(learner=account, item_id=other_item.id).exists()
    assert list(Sandbox.objects.values_list("pk", flat=True)) == [kept_sandbox.pk]
    env = second.get("/sandbox/env").content.decode()
    assert kept_sandbox.lab_key().access_key_id in env


def test_a_wrong_password_is_a_clear_message():
    User.objects.create_user("ada", password=PASSWORD)
    response = Client().post("/accounts/login/", {"username": "ada", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_a_weak_password_is_refused_with_the_reason():
    response = Client().post(
        "/accounts/signup/", {"username": "bob", "password1": "12345678", "password2": "12345678"}
    )
    assert response.status_code == 200
    assert b"This password is too common" in response.content
    assert not User.objects.filter(username="bob").exists()
