import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from learnlab.classroom.services import classroom_create, instructor_grant


@pytest.fixture
def make_instructor(db):
    def make(username: str = "ada") -> Client:
        user = get_user_model().objects.create_user(username=username, password="x-Secret-42!")
        instructor_grant(user=user)
        client = Client()
        client.force_login(user)
        client.user = user
        return client

    return make


@pytest.fixture
def instructor(make_instructor):
    return make_instructor()


@pytest.fixture
def classroom(instructor):
    return classroom_create(instructor=instructor.user, name="Morning cohort", clock_speed=120)


@pytest.fixture
def join(sandbox_server, db):
    """A new browser that joins ``classroom`` as ``name``; returns its client."""

    def run(classroom, name: str) -> Client:
        client = Client()
        response = client.post("/class/", {"code": classroom.code, "display_name": name})
        assert response.status_code == 302, response.content.decode()[:2000]
        return client

    return run
