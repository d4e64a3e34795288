"""LearnLab as an LTI 1.3 tool, driven by an independent platform implementation
(lti1p3platform, tests/lti/platform.py) over real HTTP, as a platform drives a tool: OIDC
login, signed launches, Deep Linking, grade passback (AGS) and the roster (NRPS). Follows
1EdTech's LTI 1.3 Core, Security Framework 1.0, Deep Linking 2.0, AGS 2.0 and NRPS 2.0."""

import re
import time

import jwt
import pytest
import requests
from django.core.management import call_command
from django_q.conf import Conf
from jwcrypto.jwk import JWK
from lti_tool.models import Key, LtiRegistration

from learnlab.classroom.models import Classroom, Membership
from learnlab.embed.tokens import HEADER
from learnlab.gate.client import aws_client
from learnlab.labs.catalog import lab_get
from learnlab.learners.models import Learner
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.lti.models import LtiGrade
from learnlab.sandbox.services import sandbox_for_learner
from tests.lti.platform import INSTRUCTOR, LEARNER, Platform, auto_post_form

pytestmark = pytest.mark.django_db(transaction=True)
STEPS = len(lab_get("instance-role").steps)


@pytest.fixture
def platform(live_server, sandbox_server, fresh_cache, monkeypatch):
    # Jobs run as they are queued (django-q2's sync mode): the same code the cluster runs.
    monkeypatch.setattr(Conf, "SYNC", True)
    running = Platform(live_server.url).start()
    call_command(
        "lti_platform",
        "add",
        "--name",
        "Test platform",
        "--issuer",
        running.issuer,
        "--client-id",
        running.client_id,
        "--auth-url",
        f"{running.url}/auth",
        "--token-url",
        f"{running.url}/token",
        "--keyset-url",
        f"{running.url}/jwks",
        "--deployment-id",
        running.deployment_id,
        "--site",
        live_server.url,
    )
    running.tool_registration_uuid = LtiRegistration.objects.get().uuid
    yield running
    running.stop()


def _launch(platform, browser=None, **claims) -> tuple[requests.Response, dict]:
    """A browser follows the platform's login link, then posts the signed launch."""
    browser = browser or requests.Session()
    login = browser.get(platform.login_url(**claims), timeout=30)
    assert login.status_code == 200, login.text[:500]
    action, fields = auto_post_form(login.json())
    return browser.post(action, data=fields, allow_redirects=False, timeout=60), fields


def _open_board(browser: requests.Session, url: str) -> requests.Response:
    """Open a board link as the instructor does: its page asks "Continue as ...", and the
    button posts (with the form's CSRF token)."""
    page = browser.get(url, timeout=60)
    assert page.status_code == 200 and "Continue as" in page.text, page.text[:500]
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
    return browser.post(url, data={"csrfmiddlewaretoken": csrf}, timeout=60)


def _deep_link(platform, live_server) -> dict:
    page, _ = _launch(platform, user="teacher-1", roles=[INSTRUCTOR], name="Grace", deep_link=True)
    assert page.status_code == 200, page.text[:500]
    token = re.search(r'name="token" value="([^"]+)"', page.text)[1]
    answer = requests.post(
        f"{live_server.url}/lti/deep-link/",
        data={"token": token, "lab": "instance-role", "step": ""},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text[:500]
    action = re.search(r'action="([^"]+)"', answer.text)[1]
    jwt_value = re.search(r'name="JWT" value="([^"]+)"', answer.text)[1]
    assert action == f"{platform.url}/deep-link-return"
    saved = requests.post(action, data={"JWT": jwt_value}, timeout=30)
    assert saved.status_code == 200 and saved.json() == {"saved": 1}, saved.text
    return platform.deep_link_items[0]


def test_deep_link_then_learner_launch_grade_passback(platform, live_server):
    item = _deep_link(platform, live_server)
    assert item["type"] == "ltiResourceLink"
    assert item["custom"] == {"learnlab_lab": "instance-role"}
    assert item["lineItem"]["scoreMaximum"] == STEPS
    assert item["lineItem"]["resourceId"] == "instance-role"
    (lineitem,) = platform.lineitems

    # A learner opens the link: no sign-up, straight into the embedded lab, in the class.
    response, _ = _launch(
        platform,
        user="student-1",
        roles=[LEARNER],
        name="Ada Lovelace",
        custom=item["custom"],
        lineitem=lineitem,
    )
    assert response.status_code == 302, response.text[:500]
    assert response.headers["Location"].startswith("/embed/instance-role/?t=")
    embedded = requests.get(live_server.url + response.headers["Location"], timeout=30)
    assert embedded.status_code == 200
    assert f"frame-ancestors {platform.url}" in embedded.headers["Content-Security-Policy"]
    membership = Membership.objects.get(display_name="Ada Lovelace")
    assert membership.classroom.name == "IAM 101"
    learner = membership.learner
    assert learner.user.username.startswith("lti-") and not learner.user.has_usable_password()

    # Step 1 passes: a score goes back to the line item, from the job the Check queued.
    iam = aws_client("iam", sandbox=sandbox_for_learner(learner=learner))
    iam.create_role(RoleName="S3ReadForEC2", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.attach_role_policy(
        RoleName="S3ReadForEC2", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    )
    token = re.search(r'data-embed-token="([^"]+)"', embedded.text)[1]
    check = requests.post(
        f"{live_server.url}/embed/instance-role/create-role/check",
        headers={HEADER: token},
        timeout=60,
    )
    assert check.json()["passed"] is True, check.text
    assert "POST /token" in platform.requests  # the client-credentials grant, JWT-signed
    (score,) = platform.scores
    assert score["lineitem"] == lineitem
    assert score["userId"] == "student-1"
    assert (score["scoreGiven"], score["scoreMaximum"]) == (1, STEPS)
    assert (score["activityProgress"], score["gradingProgress"]) == ("InProgress", "Pending")
    assert LtiGrade.objects.get().last_score == f"1/{STEPS}"


def test_instructor_launch_reads_the_roster_onto_the_board(platform, live_server):
    platform.roster = [
        {"user_id": "student-7", "roles": [LEARNER], "name": "Katherine Johnson"},
        {"user_id": "student-8", "roles": [LEARNER], "name": "Dorothy Vaughan"},
        {"user_id": "teacher-1", "roles": [INSTRUCTOR], "name": "Grace Hopper"},
    ]
    browser = requests.Session()
    page, _ = _launch(platform, browser, user="teacher-1", roles=[INSTRUCTOR], name="Grace Hopper")
    assert page.status_code == 200, page.text[:500]
    assert "GET /memberships" in platform.requests
    classroom = Classroom.objects.get(name="IAM 101")
    assert classroom.instructor.username.startswith("lti-")
    assert classroom.instructor.groups.filter(name="instructors").exists()
    names = set(classroom.members.values_list("display_name", flat=True))
    assert names == {"Katherine Johnson", "Dorothy Vaughan"}
    # The board, in a tab of its own (first-party), signed in as the LTI instructor.
    board_url = re.search(r'href="(/lti/board/[^"]+)"', page.text)[1]
    board = _open_board(browser, live_server.url + board_url)
    assert board.status_code == 200, board.text[:300]
    assert board.url.endswith(f"/class/teach/{classroom.code}/")
    assert "Katherine Johnson" in board.text and "Dorothy Vaughan" in board.text


def test_a_replayed_launch_is_refused(platform, live_server):
    first, fields = _launch(platform, user="student-1", roles=[LEARNER], name="Ada")
    assert first.status_code == 302
    again = requests.post(f"{live_server.url}/lti/launch/", data=fields, timeout=30)
    assert again.status_code == 403
    assert "already used" in again.text


def test_an_expired_launch_is_refused(platform):
    response, _ = _launch(platform, user="student-1", roles=[LEARNER], expiration=-120)
    assert response.status_code == 403
    assert "This launch has expired" in response.text


def test_a_forged_launch_is_refused(platform, live_server):
    browser = requests.Session()
    login = browser.get(platform.login_url(user="student-1", roles=[LEARNER]), timeout=30)
    action, fields = auto_post_form(login.json())
    claims = jwt.decode(fields["id_token"], options={"verify_signature": False})
    claims["sub"] = "someone-else"
    header = jwt.get_unverified_header(fields["id_token"])
    forger = JWK.generate(kty="RSA", size=2048).export_to_pem(private_key=True, password=None)
    fields["id_token"] = jwt.encode(
        claims, forger, algorithm="RS256", headers={"kid": header["kid"]}
    )
    response = browser.post(action, data=fields, allow_redirects=False, timeout=30)
    assert response.status_code == 403
    assert "not signed by your learning platform" in response.text
    assert not Learner.objects.exists()


def test_jwks_rotation_keeps_the_old_key_until_it_is_retired(platform, live_server):
    jwks = lambda: requests.get(f"{live_server.url}/lti/jwks.json", timeout=10).json()["keys"]  # noqa: E731
    (first,) = jwks()
    call_command("rotate_keys")  # a new signing key; the old one stays published for a week
    assert [k["kid"] for k in jwks()].count(first["kid"]) == 1 and len(jwks()) == 2
    newest = Key.objects.active().latest().as_jwk()["kid"]
    # The platform accepts the tool's next service call, signed with the new key.
    item = _deep_link(platform, live_server)
    assert item["custom"]["learnlab_lab"] == "instance-role"
    time.sleep(0.01)
    call_command("rotate_keys", "--deactivate-after", "0")
    kids = [k["kid"] for k in jwks()]
    assert first["kid"] not in kids and newest not in kids and len(kids) == 1
