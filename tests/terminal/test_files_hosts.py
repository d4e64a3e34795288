"""The files pages open a home only on a host of the learner's own: the workstation, or an
instance in their sandbox (or one whose home already has their files). Another learner's
instance and a made-up id get the same clear answer, which reveals nothing of the other."""

import re

import pytest
from django.test import Client

from learnlab.sandbox.models import Sandbox
from learnlab.terminal.models import HomeFile
from tests.helpers import launch_with_role

pytestmark = pytest.mark.django_db(transaction=True)
MADE_UP = "i-0123456789abcdef0"


@pytest.fixture
def browser(sandbox_server):
    browser = Client(enforce_csrf_checks=True)
    browser.get("/sandbox/panel")
    browser.get("/terminal/files/")
    browser.token = browser.cookies["csrftoken"].value
    browser.sandbox = Sandbox.objects.get()
    return browser


def _save(browser, host: str, name: str = "notes.txt"):
    return browser.post(
        "/terminal/files/edit",
        {"name": name, "content": "hello\n", "host": host, "csrfmiddlewaretoken": browser.token},
    )


def _no_such(response, instance_id: str) -> str:
    """The page's message, the id left out, after checking it says there is no such instance."""
    said = re.findall(r'<p class="message message-error">(.*?)</p>', response.content.decode())
    assert len(said) == 1 and f"There is no instance {instance_id} in your sandbox." in said[0]
    return said[0].replace(instance_id, "<id>")


def test_another_learners_instance_is_as_unknown_as_a_made_up_one(browser, make_sandbox):
    other = make_sandbox()
    theirs = launch_with_role(other)

    answers = []
    for instance_id in (theirs, MADE_UP):
        opened = browser.get(f"/terminal/files/edit?host={instance_id}&name=notes.txt")
        assert opened.status_code == 404
        saved = _save(browser, instance_id)
        assert saved.status_code == 404
        answers.append((_no_such(opened, instance_id), _no_such(saved, instance_id)))
        deleted = browser.post(
            "/terminal/files/delete",
            {"host": instance_id, "name": "notes.txt", "csrfmiddlewaretoken": browser.token},
            follow=True,
        )
        _no_such(deleted, instance_id)
    assert answers[0] == answers[1]
    assert not HomeFile.objects.exists()


def test_the_learners_own_instance_and_workstation_open(browser):
    mine = launch_with_role(browser.sandbox)

    assert browser.get(f"/terminal/files/edit?host={mine}").status_code == 200
    assert _save(browser, mine).status_code == 302
    assert _save(browser, "workstation").status_code == 302
    assert sorted(HomeFile.objects.values_list("host", flat=True)) == [mine, "workstation"]
    listing = browser.get("/terminal/files/").content.decode()
    assert mine in listing


def test_a_home_with_files_stays_open_after_its_instance_is_gone(browser):
    """Files left on a terminated instance can still be read and deleted."""
    from learnlab.gate.client import aws_client

    mine = launch_with_role(browser.sandbox)
    assert _save(browser, mine).status_code == 302
    ec2 = aws_client("ec2", sandbox=browser.sandbox)
    ec2.terminate_instances(InstanceIds=[mine])

    assert browser.get(f"/terminal/files/edit?host={mine}&name=notes.txt").status_code == 200
    browser.post(
        "/terminal/files/delete",
        {"host": mine, "name": "notes.txt", "csrfmiddlewaretoken": browser.token},
    )
    assert not HomeFile.objects.exists()
