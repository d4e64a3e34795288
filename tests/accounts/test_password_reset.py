"""Password reset for instructors and learners: Django's views, an emailed one-time link."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client, override_settings

from learnlab.classroom.services import instructor_grant

pytestmark = pytest.mark.django_db


def test_the_reset_email_carries_a_link_that_sets_a_new_password():
    user = get_user_model().objects.create_user(
        username="ada", email="ada@example.org", password="old-Secret-42!"
    )
    instructor_grant(user=user)
    client = Client()
    assert "Forgot your password?" in client.get("/accounts/login/").content.decode()
    response = client.post("/accounts/password/reset/", {"email": "ada@example.org"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/)", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    page = client.get(link[1], follow=True)  # Django swaps the token for a session one
    assert page.status_code == 200 and "Set the password" in page.content.decode()
    done = client.post(
        page.redirect_chain[-1][0],
        {"new_password1": "new-Secret-43!", "new_password2": "new-Secret-43!"},
    )
    assert done.status_code == 302
    assert Client().login(username="ada", password="new-Secret-43!")
    assert not Client().login(username="ada", password="old-Secret-42!")
    again = client.get(link[1], follow=True)  # used once: it no longer works
    assert "This link does not work" in again.content.decode()


def test_an_unknown_address_looks_the_same_and_sends_nothing():
    response = Client().post("/accounts/password/reset/", {"email": "nobody@example.org"})
    assert response.status_code == 302 and mail.outbox == []


@override_settings(LEARNLAB_PASSWORD_RESETS_PER_CLIENT=2)
def test_requests_per_address_are_throttled(settings):
    client = Client()
    for _ in range(2):
        assert (
            client.post("/accounts/password/reset/", {"email": "x@example.org"}).status_code == 302
        )
    refused = client.post("/accounts/password/reset/", {"email": "x@example.org"})
    assert refused.status_code == 429
    assert "Too many password resets" in refused.content.decode()
