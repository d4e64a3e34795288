"""Classes: joining by code, the live board, instructor actions, the CSV, and who may see what."""

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from learnlab.classroom.models import CODE_ALPHABET, Membership
from learnlab.gate.client import aws_client
from learnlab.labs.models import StepResult
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox.models import Sandbox

HTMX = {"HTTP_HX_REQUEST": "true"}
S3_READ_ONLY = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


def _sandbox(client) -> Sandbox:
    return Sandbox.objects.get(learner_id=client.session["learner_id"])


def test_a_class_gets_an_unambiguous_code_a_join_link_and_a_qr_code(instructor, classroom):
    assert len(classroom.code) == 6 and set(classroom.code) <= set(CODE_ALPHABET)
    assert not set("0O1IL") & set(CODE_ALPHABET)
    page = instructor.get(f"/class/teach/{classroom.code}/").content.decode()
    assert f"/class/join/{classroom.code}" in page
    qr = instructor.get(f"/class/teach/{classroom.code}/qr.svg")
    assert qr["Content-Type"] == "image/svg+xml"
    assert b'<svg xmlns="http://www.w3.org/2000/svg"' in qr.content


def test_a_learner_joins_with_code_and_name_and_lands_in_the_lab_on_the_class_clock(
    classroom, sandbox_server, db
):
    client = Client()
    assert client.get(f"/class/join/{classroom.code}").status_code == 200
    response = client.post("/class/", {"code": classroom.code.lower(), "display_name": " Grace "})
    assert response.status_code == 302 and response["Location"] == "/lab/instance-role/"
    membership = Membership.objects.get(classroom=classroom)
    assert membership.display_name == "Grace"
    assert _sandbox(client).clock_speed == 120
    lab = client.get("/lab/instance-role/").content.decode()
    assert "You are in <strong>Morning cohort</strong>" in lab


def test_joining_again_from_the_same_browser_resumes_and_a_new_class_replaces_the_old(
    instructor, classroom, join
):
    from learnlab.classroom.services import classroom_create

    client = join(classroom, "Grace")
    client.post("/class/", {"code": classroom.code, "display_name": "Grace H"})
    assert Membership.objects.filter(classroom=classroom).count() == 1
    other = classroom_create(instructor=instructor.user, name="Afternoon")
    client.post("/class/", {"code": other.code, "display_name": "Grace"})
    active = Membership.objects.filter(learner_id=client.session["learner_id"], left_at=None)
    assert [m.classroom for m in active] == [other]


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        ({"code": "ABC", "display_name": "x"}, "A class code is 6 letters"),
        ({"code": "AAAAAA", "display_name": "x"}, "No class has this code"),
        ({"code": "", "display_name": ""}, "This field is required"),
        ({"code": "<script>", "display_name": "x"}, "A class code is 6 letters"),
    ],
)
def test_a_bad_join_gets_a_clear_message_and_keeps_the_input(db, data, complaint):
    response = Client().post("/class/", data)
    assert response.status_code == 200
    assert complaint in response.content.decode()


def test_a_closed_class_cannot_be_joined_and_its_sandboxes_are_released(
    instructor, classroom, join
):
    learner = join(classroom, "Grace")
    instructor.post(f"/class/teach/{classroom.code}/close")
    assert _sandbox(learner).status == Sandbox.Status.DROPPED
    response = Client().post("/class/", {"code": classroom.code, "display_name": "Late"})
    assert "This class has ended" in response.content.decode()
    board = instructor.get(f"/class/teach/{classroom.code}/").content.decode()
    assert "Grace" in board  # results are kept


def test_the_board_shows_each_learners_steps_reason_quiz_and_a_summary(instructor, classroom, join):
    grace, alan = join(classroom, "Grace"), join(classroom, "Alan")
    aws_client("iam", sandbox=_sandbox(grace)).create_role(
        RoleName="web", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    grace.post("/lab/instance-role/steps/create-role/check", **HTMX)  # no permissions policy
    iam = aws_client("iam", sandbox=_sandbox(alan))
    iam.create_role(RoleName="web", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.attach_role_policy(
        RoleName="web", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    )
    alan.post("/lab/instance-role/steps/create-role/check", **HTMX)
    grid = instructor.get(f"/class/teach/{classroom.code}/grid", **HTMX).content.decode()
    assert "has no permissions policy" in grid  # Grace's last reason
    assert 'data-testid="passed-1">1<' in grid
    stuck = instructor.get(f"/class/teach/{classroom.code}/grid?show=stuck", **HTMX)
    assert "row-Grace" in stuck.content.decode() and "row-Alan" not in stuck.content.decode()


def test_the_board_is_a_fixed_number_of_queries_however_many_learners(
    instructor, classroom, django_assert_max_num_queries
):
    from learnlab.learners.models import Learner

    for n in range(40):
        learner = Learner.objects.create(display_name=f"L{n}")
        Membership.objects.create(classroom=classroom, learner=learner, display_name=f"L{n}")
    with django_assert_max_num_queries(12):
        response = instructor.get(f"/class/teach/{classroom.code}/grid", **HTMX)
    assert response.content.decode().count('data-testid="row-') == 40


def test_reset_gives_the_learner_an_empty_sandbox(instructor, classroom, join):
    grace = join(classroom, "Grace")
    sandbox = _sandbox(grace)
    aws_client("iam", sandbox=sandbox).create_role(
        RoleName="web", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    membership = Membership.objects.get(classroom=classroom)
    instructor.post(
        f"/class/teach/{classroom.code}/learners/{membership.pk}/reset", {"confirm": "yes"}
    )
    assert aws_client("iam", sandbox=sandbox).list_roles()["Roles"] == []


def test_hints_clock_and_pause_reach_the_whole_class(instructor, classroom, join):
    grace = join(classroom, "Grace")
    instructor.post(f"/class/teach/{classroom.code}/hints", {"step": "create-role"})
    lab = grace.get("/lab/instance-role/").content.decode()
    assert "opened by your instructor" in lab
    instructor.post(f"/class/teach/{classroom.code}/clock", {"speed": "360", "rotation": "paused"})
    sandbox = _sandbox(grace)
    assert (sandbox.clock_speed, sandbox.rotation_paused) == (360, True)
    response = instructor.post(
        f"/class/teach/{classroom.code}/clock", {"speed": "9000"}, follow=True
    )
    assert "from 1x to 360x" in response.content.decode()


def test_the_csv_has_each_learners_steps_and_quiz_score_by_exam_point(instructor, classroom, join):
    from learnlab.quiz.bank import load_bank
    from learnlab.quiz.models import Answer

    grace = join(classroom, "=Grace")  # a formula-looking name is defused
    iam = aws_client("iam", sandbox=_sandbox(grace))
    iam.create_role(RoleName="web", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    grace.post("/lab/instance-role/steps/create-role/check", **HTMX)
    item = next(i for i in load_bank().values() if i.points[0] == "EP03")
    learner_id = grace.session["learner_id"]
    Answer.objects.create(
        learner_id=learner_id, item_id=item.id, chosen=[0], correct=True, mode="practice"
    )
    Answer.objects.create(
        learner_id=learner_id, item_id=item.id, chosen=[1], correct=False, mode="practice"
    )
    response = instructor.get(f"/class/teach/{classroom.code}/export.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 1
    row = rows[0]
    assert row["name"] == "'=Grace"
    assert (row["step1_result"], row["step1_attempts"]) == ("failed", "1")
    assert row["step2_result"] == "not started"
    assert row["quiz_EP03"] == "1/2" and row["quiz_EP01"] == ""


# Permissions -------------------------------------------------------------------------------


def test_only_the_classes_instructor_sees_its_board_and_acts_on_it(
    make_instructor, classroom, join
):
    join(classroom, "Grace")
    membership = Membership.objects.get(classroom=classroom)
    other = make_instructor("mallory")
    base = f"/class/teach/{classroom.code}/"
    for path in ("", "grid", "qr.svg", "export.csv"):
        assert other.get(base + path).status_code == 404
    for path, data in (
        (f"learners/{membership.pk}/reset", {}),
        ("hints", {"step": "create-role"}),
        ("clock", {"speed": "1"}),
        ("close", {}),
    ):
        assert other.post(base + path, data).status_code == 404
    classroom.refresh_from_db()
    assert classroom.is_open and classroom.clock_speed == 120 and not classroom.revealed_hints


def test_learners_and_visitors_never_reach_a_board(classroom, join):
    grace = join(classroom, "Grace")
    base = f"/class/teach/{classroom.code}/"
    assert grace.get(base)["Location"].startswith("/accounts/login/")
    assert Client().get(base + "export.csv")["Location"].startswith("/accounts/login/")
    user = get_user_model().objects.create_user(username="learner", password="x-Secret-42!")
    signed_in = Client()
    signed_in.force_login(user)
    assert signed_in.get(base).status_code == 403


def test_an_instructor_cannot_reset_a_learner_of_another_class_by_guessing_ids(
    make_instructor, classroom, join
):
    from learnlab.classroom.services import classroom_create

    grace = join(classroom, "Grace")
    sandbox = _sandbox(grace)
    iam = aws_client("iam", sandbox=sandbox)
    iam.create_role(RoleName="web", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.attach_role_policy(RoleName="web", PolicyArn=S3_READ_ONLY)
    assert (
        "Passed."
        in grace.post("/lab/instance-role/steps/create-role/check", **HTMX).content.decode()
    )
    key_id = sandbox.lab_key().access_key_id
    victim = Membership.objects.get(classroom=classroom)
    other = make_instructor("mallory")
    own = classroom_create(instructor=other.user, name="Mine")
    response = other.post(f"/class/teach/{own.code}/learners/{victim.pk}/reset")
    assert response.status_code == 404
    # Grace's work survives: her role, her passed step and her keys.
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["web"]
    assert StepResult.objects.filter(learner_id=victim.learner_id, passed=True).count() == 1
    sandbox.refresh_from_db()
    assert sandbox.lab_key().access_key_id == key_id


def test_instructor_sign_up_can_be_turned_off_and_createinstructor_makes_one(settings, db, capsys):
    settings.LEARNLAB_INSTRUCTOR_SIGNUP = False
    assert "sign-up is closed" in Client().get("/class/teach/signup").content.decode()
    call_command("createinstructor", "grace", password="x-Secret-42!")
    client = Client()
    assert client.login(username="grace", password="x-Secret-42!")
    assert client.get("/class/teach/").status_code == 200


def test_instructor_sign_up_creates_an_instructor(db):
    client = Client()
    response = client.post(
        "/class/teach/signup",
        {
            "username": "ada",
            "email": "ada@example.org",  # an instructor's password reset needs one
            "password1": "x-Secret-42!",
            "password2": "x-Secret-42!",
        },
    )
    assert response["Location"] == "/class/teach/"
    response = client.post("/class/teach/", {"name": "Cohort 1", "clock_speed": "60"})
    assert response.status_code == 302 and "/class/teach/" in response["Location"]


def test_classmates_never_see_each_others_sandbox_or_answers(classroom, join):
    from learnlab.quiz.bank import load_bank
    from learnlab.quiz.models import Answer

    ann, bo = join(classroom, "Annabel-7"), join(classroom, "Bo")
    aws_client("iam", sandbox=_sandbox(ann)).create_role(
        RoleName="ann-secret-role", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    ann.post("/lab/instance-role/steps/create-role/check", **HTMX)
    item = next(iter(load_bank().values()))
    Answer.objects.create(
        learner_id=ann.session["learner_id"], item_id=item.id, chosen=[0], correct=True,
        mode="practice",
    )  # fmt: skip
    assert _sandbox(ann).account_id != _sandbox(bo).account_id
    seen_by_bo = [
        bo.get("/lab/instance-role/").content.decode(),
        bo.post("/terminal/run", {"line": "aws iam list-roles"}, **HTMX).content.decode(),
        bo.get("/quiz/mastery/").content.decode(),
        bo.get("/sandbox/panel").content.decode(),
    ]
    for page in seen_by_bo:
        assert "ann-secret-role" not in page and "Annabel-7" not in page
    assert bo.get(f"/class/teach/{classroom.code}/").status_code == 302  # to the login page


def test_logging_in_after_joining_keeps_the_learner_in_the_class(instructor, classroom, join):
    from django.contrib.auth.models import User

    from learnlab.learners.models import Learner

    User.objects.create_user("grace", password="a-long-enough-password-42")
    account = Learner.objects.create(user=User.objects.get(username="grace"))
    from learnlab.sandbox.services import sandbox_for_learner

    sandbox_for_learner(learner=account)  # the account has its own sandbox: it is kept
    browser = join(classroom, "Ada")
    response = browser.post(
        "/accounts/login/", {"username": "grace", "password": "a-long-enough-password-42"}
    )
    assert response.status_code == 302
    membership = Membership.objects.get(classroom=classroom)
    assert membership.learner == account and membership.left_at is None
    kept = Sandbox.objects.get(learner=account)
    assert (kept.clock_speed, kept.rotation_paused) == (classroom.clock_speed, False)
