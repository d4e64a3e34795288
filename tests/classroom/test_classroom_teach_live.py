"""An instructor's authority and safety in a class, through the real stack: the class clock
(pause holds a set past its renewal time), reset with a confirm step and a minute's undo, the
export's history, teaching live (hints, announcements, "I'm stuck", a learner's own view), the
common mistakes, a board that fits a growing class in a fixed number of queries."""

import csv
import io
from datetime import timedelta

from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from learnlab.classroom.models import LearnerReset, Membership
from learnlab.gate.client import aws_client
from learnlab.imds.credentials import credentials_current, credentials_tick
from learnlab.imds.models import InstanceCredentials
from learnlab.labs.models import StepResult
from learnlab.learners.models import Learner
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox.models import Sandbox
from tests.helpers import launch_with_role

HTMX = {"HTTP_HX_REQUEST": "true"}
CHECK_1 = "/lab/instance-role/steps/create-role/check"


def _sandbox(client) -> Sandbox:
    return Sandbox.objects.get(learner_id=client.session["learner_id"])


def _membership(client) -> Membership:
    return Membership.objects.get(learner_id=client.session["learner_id"])


def _board(instructor, classroom) -> str:
    return instructor.get(f"/class/teach/{classroom.code}/grid", **HTMX).content.decode()


def test_pause_holds_a_set_past_its_renewal_and_resuming_renews_it_once(
    instructor, classroom, join
):
    """A paused class's sets are not renewed however late; resuming renews each once, from
    then (AWS: instance credentials keep their Expiration; the SDK refreshes from IMDS)."""
    grace = join(classroom, "Grace")
    sandbox = _sandbox(grace)
    instance_id = launch_with_role(sandbox)
    held = credentials_current(sandbox=sandbox, instance_id=instance_id, role_name="app")
    instructor.post(f"/class/teach/{classroom.code}/clock", {"speed": "120", "rotation": "paused"})
    credentials_tick(now=held.renew_at + timedelta(seconds=5))
    held.refresh_from_db()
    assert held.superseded_at is None
    assert InstanceCredentials.objects.filter(sandbox=sandbox).count() == 1
    page = grace.get(f"/sandbox/instances/{instance_id}/").content.decode()
    assert "paused by your instructor" in page
    assert "set by ada" in page.lower()
    assert 'action="/sandbox/clock"' not in page  # the learner's own form is gone

    resumed_at = timezone.now()
    instructor.post(f"/class/teach/{classroom.code}/clock", {"speed": "120", "rotation": "running"})
    credentials_tick(now=held.renew_at + timedelta(seconds=5))
    credentials_tick()  # no burst of missed renewals: the new set is not due yet
    held.refresh_from_db()
    assert held.superseded_at is not None
    fresh = InstanceCredentials.objects.filter(sandbox=sandbox, superseded_at=None).get()
    assert InstanceCredentials.objects.filter(sandbox=sandbox).count() == 2
    assert fresh.issued_at >= resumed_at and fresh.renew_at > resumed_at


def test_a_learner_in_a_class_cannot_set_the_clock(classroom, join):
    grace = join(classroom, "Grace")
    grace.post("/sandbox/clock", {"speed": "360"})
    assert _sandbox(grace).clock_speed == classroom.clock_speed


def test_reset_asks_names_the_learner_and_undo_brings_back_the_same_ids(
    instructor, classroom, join
):
    grace = join(classroom, "Grace")
    sandbox = _sandbox(grace)
    iam = aws_client("iam", sandbox=sandbox)
    role_id = iam.create_role(RoleName="web", AssumeRolePolicyDocument=EC2_TRUST_POLICY)["Role"][
        "RoleId"
    ]
    profile_id = iam.create_instance_profile(InstanceProfileName="web")["InstanceProfile"][
        "InstanceProfileId"
    ]
    grace.post(CHECK_1, **HTMX)  # fails: no permissions policy yet
    member = _membership(grace)
    url = f"/class/teach/{classroom.code}/learners/{member.pk}/reset"

    confirm = instructor.get(url).content.decode()
    assert "<h1>Reset Grace's sandbox?</h1>" in confirm and 'name="confirm" value="yes"' in confirm
    instructor.post(url)  # no confirm: only the question again
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["web"]

    instructor.post(url, {"confirm": "yes"})
    sandbox.refresh_from_db()
    assert aws_client("iam", sandbox=sandbox).list_roles()["Roles"] == []
    assert not StepResult.objects.filter(learner_id=member.learner_id).exists()
    live = grace.get("/class/live").content.decode()
    assert "Your instructor (ada) reset your sandbox" in live
    reset = LearnerReset.objects.get(membership=member)
    assert f"/resets/{reset.pk}/undo" in _board(instructor, classroom)

    instructor.post(f"/class/teach/{classroom.code}/resets/{reset.pk}/undo")
    sandbox.refresh_from_db()
    iam = aws_client("iam", sandbox=sandbox)
    assert [r["RoleId"] for r in iam.list_roles()["Roles"]] == [role_id]
    profile = iam.get_instance_profile(InstanceProfileName="web")["InstanceProfile"]
    assert profile["InstanceProfileId"] == profile_id
    restored = StepResult.objects.get(learner_id=member.learner_id, step="create-role")
    assert not restored.passed and restored.attempts == 1
    assert "then undid it" in grace.get("/class/live").content.decode()


def test_undo_is_refused_after_its_minute(instructor, classroom, join):
    grace = join(classroom, "Grace")
    member = _membership(grace)
    instructor.post(f"/class/teach/{classroom.code}/learners/{member.pk}/reset", {"confirm": "yes"})
    reset = LearnerReset.objects.get(membership=member)
    LearnerReset.objects.filter(pk=reset.pk).update(at=timezone.now() - timedelta(seconds=61))
    response = instructor.post(f"/class/teach/{classroom.code}/resets/{reset.pk}/undo", follow=True)
    assert "can be undone for 60 seconds only" in response.content.decode()
    assert f"/resets/{reset.pk}/undo" not in _board(instructor, classroom)


def test_the_export_keeps_attempts_from_before_a_reset(instructor, classroom, join):
    grace = join(classroom, "Grace")
    for _ in range(3):
        grace.post(CHECK_1, **HTMX)
    member = _membership(grace)
    instructor.post(f"/class/teach/{classroom.code}/learners/{member.pk}/reset", {"confirm": "yes"})
    grace.post(CHECK_1, **HTMX)
    rows = list(
        csv.DictReader(
            io.StringIO(
                instructor.get(f"/class/teach/{classroom.code}/export.csv").content.decode()
            )
        )
    )
    assert rows[0]["step1_attempts"] == "1"
    assert rows[0]["step1_attempts_before_reset"] == "3"
    assert rows[0]["resets"] == "1"


def test_a_hint_reaches_open_pages_saying_who_opened_it(instructor, classroom, join):
    grace = join(classroom, "Grace")
    assert "opened by" not in grace.get("/class/live").content.decode()
    instructor.post(f"/class/teach/{classroom.code}/hints", {"step": "create-role"})
    live = grace.get("/class/live").content.decode()
    assert "Hint for step 1: opened by ada" in live
    bad = instructor.post(f"/class/teach/{classroom.code}/hints", {"step": "nope"}, follow=True)
    assert bad.status_code == 200 and "not in this class" in bad.content.decode()


def test_an_announcement_is_escaped_length_limited_and_dismissible(instructor, classroom, join):
    grace = join(classroom, "Grace")
    url = f"/class/teach/{classroom.code}/announcement"
    too_long = instructor.post(url, {"text": "x" * 281}, follow=True).content.decode()
    assert "at most 280 characters" in too_long
    instructor.post(url, {"text": "Break <script>alert(1)</script> till 11"})
    live = grace.get("/class/live").content.decode()
    assert "Break &lt;script&gt;alert(1)&lt;/script&gt; till 11" in live
    assert "<script>alert" not in live
    at = classroom.__class__.objects.get(pk=classroom.pk).announcement_at.isoformat()
    grace.post("/class/announcement/dismiss", {"at": at, "next": "/lab/"})
    assert 'data-testid="announcement"' not in grace.get("/class/live").content.decode()
    instructor.post(url, {"text": "Back at work"})  # a new one shows again
    assert "Back at work" in grace.get("/class/live").content.decode()


def test_i_am_stuck_shows_on_the_board_with_the_step(instructor, classroom, join):
    grace = join(classroom, "Grace")
    grace.post("/class/stuck", {"next": "/lab/"})
    board = _board(instructor, classroom)
    assert "asked for help on step 1" in board and "1 asking for help." in board
    member = _membership(grace)
    view = instructor.get(f"/class/teach/{classroom.code}/learners/{member.pk}/").content.decode()
    assert "Asked for help on step 1" in view
    grace.post("/class/stuck", {"action": "done", "next": "/lab/"})
    assert "asked for help" not in _board(instructor, classroom)


def test_the_learner_view_shows_the_last_failed_check_and_terminal_lines(
    instructor, classroom, join
):
    grace = join(classroom, "Grace")
    grace.post(CHECK_1, **HTMX)
    grace.post("/terminal/run", {"line": "aws iam list-roles"}, **HTMX)
    member = _membership(grace)
    view = instructor.get(f"/class/teach/{classroom.code}/learners/{member.pk}/").content.decode()
    assert 'data-testid="last-failed"' in view and "Step create-role" in view


def test_common_mistakes_group_the_same_reason_across_learners(instructor, classroom, join):
    ann, bo = join(classroom, "Ann"), join(classroom, "Bo")
    join(classroom, "Cy")
    for client, role in ((ann, "ann-role"), (bo, "bo-role")):
        aws_client("iam", sandbox=_sandbox(client)).create_role(
            RoleName=role, AssumeRolePolicyDocument=EC2_TRUST_POLICY
        )
        client.post(CHECK_1, **HTMX)  # the same mistake, with their own role names
    board = _board(instructor, classroom)
    assert board.count('data-testid="mistake"') == 1, board
    assert "<strong>2 of 3</strong> on step 1" in board
    assert "Reveal step 1&#x27;s hint" in board or "Reveal step 1's hint" in board


def test_two_learners_with_one_name_are_told_apart(instructor, classroom, join):
    join(classroom, "Ann")
    join(classroom, "Ann")
    ids = list(Membership.objects.filter(classroom=classroom).values_list("pk", flat=True))
    board = _board(instructor, classroom)
    assert all(f"Ann #{pk}" in board for pk in ids)


def test_a_closed_class_says_so_to_its_instructor_and_learners(instructor, classroom, join):
    grace = join(classroom, "Grace")
    instructor.post(f"/class/teach/{classroom.code}/close")
    assert (
        'data-testid="class-closed"'
        in instructor.get(f"/class/teach/{classroom.code}/").content.decode()
    )
    assert "ended on" in grace.get("/class/live").content.decode()


def test_the_board_costs_the_same_queries_as_the_class_grows(instructor, classroom, db):
    def add(n):
        for i in range(n):
            learner = Learner.objects.create()
            Membership.objects.create(classroom=classroom, learner=learner, display_name=f"L{i}")

    def count() -> int:
        with CaptureQueriesContext(db_connection) as queries:
            assert instructor.get(f"/class/teach/{classroom.code}/grid", **HTMX).status_code == 200
        return len(queries)

    add(2)
    small = count()
    add(10)
    assert count() == small


def test_instructors_have_a_nav_link_to_their_classes(instructor, client):
    assert 'data-testid="nav-classes"' in instructor.get("/class/").content.decode()
    assert 'data-testid="nav-classes"' not in client.get("/class/").content.decode()
