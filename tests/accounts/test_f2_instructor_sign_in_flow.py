"""The classroom walk's first steps without a browser (tests/e2e/test_classroom_browser.py):
an instructor signs in from /accounts/login/?next=/class/teach/ and lands on their classes,
makes a class and sees its board; a learner joining with the code lands in the class's own lab
(/lab/<slug>/, now that /lab/ lists every lab) under the class banner, never on the index.

Its 500 was the board's, not the sign-in's: at the commit where a lab file used a field
(``setup``) that the loader there did not know yet, every page reading the lab catalog failed,
and the board is where the sign-in's ``next`` led."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from learnlab.classroom.models import Classroom
from learnlab.classroom.services import instructor_grant

pytestmark = pytest.mark.django_db

PASSWORD = "x-Secret-42!"


def test_an_instructor_signs_in_to_a_board_and_a_learner_lands_in_the_class_lab(
    sandbox_server, fresh_cache
):
    instructor_grant(user=get_user_model().objects.create_user(username="ada", password=PASSWORD))
    ada = Client()
    page = ada.get("/accounts/login/?next=/class/teach/")
    assert page.status_code == 200
    assert 'href="/accounts/password/reset/"' in page.content.decode()

    signed_in = ada.post(
        "/accounts/login/", {"username": "ada", "password": PASSWORD, "next": "/class/teach/"}
    )
    assert signed_in.status_code == 302 and signed_in["Location"] == "/class/teach/"
    made = ada.post("/class/teach/", {"name": "Tuesday lab", "clock_speed": "60"})
    classroom = Classroom.objects.get()
    assert made.status_code == 302 and made["Location"] == f"/class/teach/{classroom.code}/"
    board = ada.get(made["Location"])
    assert board.status_code == 200
    assert re.search(r'data-testid="join-code">[A-HJ-NP-Z2-9]{6}<', board.content.decode())

    learner = Client()
    joined = learner.post("/class/", {"code": classroom.code.lower(), "display_name": "Ann"})
    assert joined.status_code == 302 and joined["Location"] == f"/lab/{classroom.lab}/"
    lab = learner.get(joined["Location"]).content.decode()
    assert 'data-testid="class-banner"' in lab and "Tuesday lab" in lab
