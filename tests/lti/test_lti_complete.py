"""A learner launched from the independent platform (lti1p3platform, tests/lti/platform.py)
finishes the whole instance-role lab inside the embed, and the platform receives the completion
score (Completed, FullyGraded) and the LRS the xAPI ``completed`` statement.

The steps are driven as the frame drives them, without a browser: the frame's own requests
over real HTTP, each with only the launch token (no cookie), to the embed's relay (the lab
page's terminal: the AWS CLI, ``connect`` to the instance, ``curl`` to its metadata service)
and to the embed's Check. tests/e2e/test_embed_complete_browser.py does the same in Chromium
for a plain embed."""

import html
import json
import re
import time

import pytest
import requests
from tincan import Statement

from learnlab.embed.tokens import HEADER
from learnlab.labs.catalog import lab_get
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.lti.models import LtiGrade
from tests.lti.platform import LEARNER
from tests.lti.test_lti_platform import _deep_link, _launch, platform  # noqa: F401
from tests.lti.test_xapi import lrs  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)
LAB = lab_get("instance-role")
STEPS = len(LAB.steps)
PROFILE = "S3ReadForEC2"
CREDENTIALS = f"http://169.254.169.254/latest/meta-data/iam/security-credentials/{PROFILE}"


class Frame:
    """What the embedded page sends: the launch token in the header, our Origin, no cookie."""

    def __init__(self, base: str, page: str):
        self.base = base
        self.token = re.search(r'data-embed-token="([^"]+)"', page)[1]
        self.http = requests.Session()

    def _headers(self) -> dict:
        return {HEADER: self.token, "Origin": self.base, "HX-Request": "true"}

    def run(self, line: str) -> str:
        answer = self.http.post(
            f"{self.base}/embed/relay/terminal/run",
            data={"line": line},
            headers=self._headers(),
            timeout=60,
        )
        assert answer.status_code == 200, answer.text[:300]
        assert not self.http.cookies, "the relay set a cookie"
        self.token = answer.headers["X-LearnLab-Embed-Token"]
        return html.unescape(re.sub(r"<[^>]+>", "", answer.text))

    def check(self, step) -> dict:
        answer = self.http.post(
            f"{self.base}/embed/{LAB.slug}/{step.slug}/check", headers=self._headers(), timeout=60
        )
        assert answer.status_code == 200, answer.text[:300]
        data = answer.json()
        self.token = data["token"]
        return data


def _key_id(output: str) -> str:
    return json.loads(output[output.index("{") : output.rindex("}") + 1])["AccessKeyId"]


def test_a_launched_learner_completes_the_lab_and_the_platform_gets_the_score(
    platform,  # noqa: F811
    lrs,  # noqa: F811
    live_server,
    settings,
    ticker,
):
    settings.LEARNLAB_CLOCK_SPEED = 360  # a renewal every 10 s
    received, _ = lrs
    item = _deep_link(platform, live_server)
    (lineitem,) = platform.lineitems
    response, _ = _launch(
        platform,
        user="student-2",
        roles=[LEARNER],
        name="Mary Jackson",
        custom=item["custom"],
        lineitem=lineitem,
    )
    assert response.status_code == 302, response.text[:500]
    page = requests.get(live_server.url + response.headers["Location"], timeout=60)
    assert page.status_code == 200 and 'id="terminal-form"' in page.text
    frame = Frame(live_server.url, page.text)
    steps = {s.number: s for s in LAB.steps}
    events = []

    def passes(number: int) -> None:
        data = frame.check(steps[number])
        assert data["passed"] is True, data["message"]
        events.extend(data["events"])

    frame.run(
        f"aws iam create-role --role-name {PROFILE} --assume-role-policy-document "
        f"'{EC2_TRUST_POLICY}'"
    )
    frame.run(
        f"aws iam attach-role-policy --role-name {PROFILE} "
        "--policy-arn arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    )
    passes(1)
    frame.run(f"aws iam create-instance-profile --instance-profile-name {PROFILE}")
    frame.run(
        f"aws iam add-role-to-instance-profile --instance-profile-name {PROFILE} "
        f"--role-name {PROFILE}"
    )
    passes(2)
    launched = frame.run(
        "aws ec2 run-instances --image-id ami-0453ec754f44f9a4a --instance-type t3.micro "
        f"--iam-instance-profile Name={PROFILE}"
    )
    instance = re.search(r'"InstanceId": "(i-[0-9a-f]{17})"', launched)[1]
    passes(3)
    assert f"Connected to {instance}" in frame.run(f"connect {instance}")
    first = _key_id(frame.run(f"curl -s {CREDENTIALS}"))
    passes(4)
    assert f"assumed-role/{PROFILE}/{instance}" in frame.run("aws sts get-caller-identity")
    passes(5)
    deadline = time.monotonic() + 60
    while _key_id(frame.run(f"curl -s {CREDENTIALS}")) == first:
        assert time.monotonic() < deadline, "no renewal in 60 s at speed 360"
        time.sleep(2)
    passes(6)

    assert [e["type"] for e in events].count("lab.completed") == 1
    # The platform's line item: a score per Check, the last one the completion.
    scores = [s for s in platform.scores if s["userId"] == "student-2"]
    assert len(scores) == STEPS
    last = scores[-1]
    assert (last["scoreGiven"], last["scoreMaximum"]) == (STEPS, STEPS)
    assert (last["activityProgress"], last["gradingProgress"]) == ("Completed", "FullyGraded")
    assert all(s["activityProgress"] == "InProgress" for s in scores[:-1])
    assert LtiGrade.objects.get().last_score == f"{STEPS}/{STEPS}"
    # The LRS got the completion, once, as a valid xAPI statement.
    statements = [s for request in received for s in request["body"]]
    completed = [s for s in statements if s["verb"]["id"].endswith("/completed")]
    assert len(completed) == 1
    Statement.from_json(json.dumps(completed[0]))
