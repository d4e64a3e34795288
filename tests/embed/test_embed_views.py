"""Embed views through Django's test client: who may frame what, and the launch token that
carries the learner instead of a cookie (forged, expired, replayed on another origin)."""

import json
import re

import pytest
from django.core import signing

from learnlab.embed.tokens import SALT, embed_token_mint, origin_normalize
from learnlab.learners.models import Learner
from tests.helpers import EC2_TRUST_POLICY

HOST = "https://tutorials.example"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def listed(settings):
    settings.LEARNLAB_EMBED_ORIGINS = [HOST]


def _frame_ancestors(response) -> str:
    policy = response.headers["Content-Security-Policy"]
    return re.search(r"frame-ancestors ([^;]+)", policy)[1]


def _token(response) -> str:
    return re.search(r'data-embed-token="([^"]+)"', response.content.decode())[1]


def test_every_other_page_keeps_frame_ancestors_none_and_deny(client):
    response = client.get("/healthz")
    assert _frame_ancestors(response) == "'none'"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_a_listed_host_may_frame_the_step_and_only_it(client, sandbox_server):
    response = client.get("/embed/instance-role/create-role/", {"host": HOST + "/"})
    assert response.status_code == 200
    assert _frame_ancestors(response) == HOST
    assert "X-Frame-Options" not in response.headers
    body = response.content.decode()
    assert f'data-embed-host="{HOST}"' in body
    assert "Step 1: Create the role" in body and "Step 2" not in body
    assert 'class="site-header"' not in body  # no site chrome


def test_an_unlisted_host_is_refused_and_the_refusal_cannot_be_framed(client):
    response = client.get("/embed/instance-role/", {"host": "https://evil.example"})
    assert response.status_code == 403
    assert "https://evil.example may not embed LearnLab" in response.content.decode()
    assert _frame_ancestors(response) == "'none'"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_no_host_says_how_to_give_one(client):
    response = client.get("/embed/instance-role/")
    assert response.status_code == 400
    assert "?host=" in response.content.decode()


def test_a_forged_token_is_refused_with_a_clear_page(client):
    learner = Learner.objects.create()
    forged = signing.dumps({"l": str(learner.pk), "h": HOST, "s": "embed"}, salt="another")
    response = client.get("/embed/instance-role/", {"t": forged})
    assert response.status_code == 403
    assert "not one LearnLab issued" in response.content.decode()
    assert _frame_ancestors(response) == "'none'"


def test_an_expired_token_is_refused_in_its_host_frame(client, settings):
    token = embed_token_mint(learner=Learner.objects.create(), host=HOST)
    settings.LEARNLAB_EMBED_TOKEN_SECONDS = -1
    response = client.get("/embed/instance-role/", {"t": token})
    assert response.status_code == 403
    assert "has expired" in response.content.decode()
    assert _frame_ancestors(response) == HOST  # the host shows why, in its own frame


def test_a_token_for_a_host_no_longer_listed_is_refused(client, settings):
    token = embed_token_mint(learner=Learner.objects.create(), host=HOST)
    settings.LEARNLAB_EMBED_ORIGINS = []
    response = client.get("/embed/instance-role/", {"t": token})
    assert response.status_code == 403
    assert "no longer allowed" in response.content.decode()


def test_the_token_carries_the_learner_without_any_cookie(client, sandbox_server):
    first = client.get("/embed/instance-role/", {"host": HOST})
    token = _token(first)
    learner_id = signing.loads(token, salt=SALT)["l"]
    cookieless = client.__class__()
    again = cookieless.get("/embed/instance-role/", {"t": token})
    assert again.status_code == 200
    assert signing.loads(_token(again), salt=SALT)["l"] == learner_id
    assert Learner.objects.count() == 1


def test_check_needs_the_token_and_our_own_origin(client, sandbox_server):
    token = _token(client.get("/embed/instance-role/", {"host": HOST}))
    url = "/embed/instance-role/create-role/check"
    cookieless = client.__class__()
    missing = cookieless.post(url)
    assert missing.status_code == 403 and "launch token" in missing.json()["error"]
    cross = cookieless.post(url, headers={"X-LearnLab-Embed": token, "Origin": HOST})
    assert cross.status_code == 403
    answer = cookieless.post(
        url, headers={"X-LearnLab-Embed": token, "Origin": "http://testserver"}
    )
    assert answer.status_code == 200
    data = answer.json()
    assert data["passed"] is False and data["events"] == []
    assert data["token"] != ""


def test_a_passed_check_sends_step_passed_to_the_host(client, sandbox_server):
    from learnlab.gate.client import aws_client
    from learnlab.sandbox.services import sandbox_for_learner

    token = _token(client.get("/embed/instance-role/create-role/", {"host": HOST}))
    learner = Learner.objects.get(pk=signing.loads(token, salt=SALT)["l"])
    iam = aws_client("iam", sandbox=sandbox_for_learner(learner=learner))
    iam.create_role(RoleName="S3ReadForEC2", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.attach_role_policy(
        RoleName="S3ReadForEC2", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    )
    answer = client.__class__().post("/embed/instance-role/create-role/check", {"token": token})
    data = answer.json()
    assert data["passed"] is True, data
    assert data["events"] == [
        {
            "source": "learnlab",
            "type": "step.passed",
            "lab": "instance-role",
            "step": "create-role",
            "stepNumber": 1,
        }
    ]
    json.dumps(data)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://A.example/", "https://a.example"),
        ("https://a.example:443", "https://a.example"),
        ("http://localhost:8000", "http://localhost:8000"),
        ("https://a.example/path", None),
        ("javascript:alert(1)", None),
        ("https://user@a.example", None),
        ("https://a.example:99999", None),
        ("*", None),
    ],
)
def test_origins_are_normalised_or_refused(value, expected):
    assert origin_normalize(value) == expected
