"""The guided lab through Django's test client and the real sandbox server: step 6 names the
sandbox's own clock speed, a passed Check offers the next step, snippets carry Copy and Run,
and the completion page says what is left or what was built."""

import pytest
from django.utils import timezone

from learnlab.labs.catalog import LabError, lab_get, lab_parse, registries
from learnlab.labs.guided import duration_said
from learnlab.labs.models import StepResult
from learnlab.learners.models import Learner
from learnlab.sandbox.models import Sandbox
from tests.helpers import launch_with_role

HTMX = {"HTTP_HX_REQUEST": "true"}
LAB = "/lab/instance-role/"


@pytest.fixture
def lab_client(client, sandbox_server, db):
    assert client.get(LAB).status_code == 200
    return client


def _learner(client) -> Learner:
    return Learner.objects.get(pk=client.session["learner_id"])


def _step_6(page: str) -> str:
    return page.split('<section id="step-6"', 1)[1].split("</section>", 1)[0]


def test_step_6_names_the_sandboxs_own_clock_speed(lab_client):
    sandbox = Sandbox.objects.get(learner=_learner(lab_client))
    Sandbox.objects.filter(pk=sandbox.pk).update(clock_speed=120)
    step = _step_6(lab_client.get(LAB).content.decode())
    assert "runs 120 times faster than real time" in step
    assert "lab-hour passes in 30 seconds" in step
    Sandbox.objects.filter(pk=sandbox.pk).update(clock_speed=10)
    assert "passes in 6 minutes" in _step_6(lab_client.get(LAB).content.decode())


def test_a_passed_check_offers_the_next_step(lab_client):
    launch_with_role(Sandbox.objects.get(learner=_learner(lab_client)), "S3ReadForEC2")
    failed = lab_client.post(f"{LAB}steps/create-role/check", **HTMX).content.decode()
    assert "Not yet." in failed and "Next step" not in failed  # no permissions policy yet
    from learnlab.gate.client import aws_client

    aws_client("iam", sandbox=Sandbox.objects.get(learner=_learner(lab_client))).attach_role_policy(
        RoleName="S3ReadForEC2", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    )
    passed = lab_client.post(f"{LAB}steps/create-role/check", **HTMX).content.decode()
    assert 'data-testid="check-1"' in passed  # the check's own result, as ever
    assert 'href="#step-2" data-next-step="step-2">Next step: Put the role in' in passed


def test_code_snippets_have_copy_and_run_in_terminal(lab_client):
    page = lab_client.get(LAB).content.decode()
    assert '<pre id="step-1-cli-snippet-1">' in page
    assert 'data-snippet-copy="step-1-cli-snippet-1">Copy</button>' in page
    assert 'data-snippet-run="step-1-cli-snippet-1">Run in terminal</button>' in page
    assert '<script src="/static/js/guided.js' in page
    assert "onclick" not in page  # strict CSP: no inline handlers


def test_the_completion_page_before_the_end_lists_what_is_left(lab_client):
    page = lab_client.get(f"{LAB}complete")
    assert page.status_code == 200
    text = page.content.decode()
    assert "is not finished yet" in text
    assert text.count(f'href="{LAB}#step-') == 6 + 1  # each step, and "Continue at step 1"


def test_the_completion_page_says_what_was_built_and_what_to_practise(lab_client):
    learner = _learner(lab_client)
    instance = launch_with_role(Sandbox.objects.get(learner=learner), "built-role")
    now = timezone.now()
    for step in lab_get("instance-role").steps:
        StepResult.objects.create(
            learner=learner,
            lab="instance-role",
            step=step.slug,
            passed=True,
            message="ok",
            checked_at=now,
            passed_at=now,
        )
    lab_page = lab_client.get(LAB).content.decode()
    assert f'href="{LAB}complete"' in lab_page and 'data-testid="lab-complete"' in lab_page
    page = lab_client.get(f"{LAB}complete").content.decode()
    assert "You finished" in page
    built = page.split('data-testid="built"', 1)[1].split("</dl>", 1)[0]
    assert "built-role" in built and instance in built
    for point in lab_get("instance-role").points:
        assert f"?points={point}" in page
    practise = page.split('data-testid="practise"', 1)[1].split("</ol>", 1)[0]
    assert practise.count("<li>") == 5


def test_a_lab_file_with_an_unknown_placeholder_is_refused():
    text = _lab_file().read_text().replace("{lab_hour}", "{lab_day}", 1)
    with pytest.raises(LabError, match=r"unknown placeholders \['lab_day'\]"):
        lab_parse(text, where="x.toml", registries=registries())


def _lab_file():
    from learnlab.labs.catalog import LAB_DIR

    return LAB_DIR / "instance-role.toml"


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(0, "0 seconds"), (1, "1 second"), (60, "1 minute"), (65, "1 minute 5 seconds"),
     (7500, "2 hours 5 minutes")],
)  # fmt: skip
def test_durations_read_as_people_say_them(seconds, said):
    from datetime import timedelta

    assert duration_said(timedelta(seconds=seconds)) == said
