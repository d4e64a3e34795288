"""The lab mistakes an anonymous learner met join the account at log-in, with the due cards
they explain (the mastery view's "why it is due")."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from learnlab.learners.models import Learner
from learnlab.quiz.bank import load_bank
from learnlab.quiz.models import LabMistake
from learnlab.quiz.services import lab_mistake_record

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-enough-password-42"


def _mistake(learner: Learner, *, reason: str, message: str) -> LabMistake:
    return lab_mistake_record(
        learner=learner,
        lab="instance-role",
        step=1,
        points=["EP01"],
        source=LabMistake.Source.CHECK,
        reason=reason,
        message=message,
    )


def _anonymous(client: Client) -> Learner:
    item = next(iter(load_bank().values()))  # an answer makes the browser's learner
    client.post("/quiz/practice/", {"item": item.id, "choice": [str(min(item.correct))]})
    return Learner.objects.get(user=None)


def test_log_in_moves_the_anonymous_learners_lab_mistakes_to_the_account(fresh_cache):
    user = User.objects.create_user(username="ada", password=PASSWORD)
    account = Learner.objects.create(user=user)
    older = _mistake(account, reason="check", message="no role yet (on the account)")
    browser = Client()
    anonymous = _anonymous(browser)
    newer = _mistake(anonymous, reason="check", message="no trust policy (this browser)")
    other = _mistake(anonymous, reason="NoSuchEntity", message="the role does not exist")
    LabMistake.objects.filter(pk=other.pk).update(source=LabMistake.Source.CONSOLE)
    assert older.at <= newer.at

    response = browser.post("/accounts/login/", {"username": "ada", "password": PASSWORD})

    assert response.status_code == 302
    assert not Learner.objects.filter(pk=anonymous.pk).exists()
    kept = LabMistake.objects.filter(learner=account).order_by("reason")
    assert [(m.reason, m.message) for m in kept] == [
        ("NoSuchEntity", "the role does not exist"),
        ("check", "no trust policy (this browser)"),  # the newer of the two with one reason
    ]
