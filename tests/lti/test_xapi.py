"""xAPI statements to a learning record store (a real HTTP server in the test that records
what it receives), each validated by edx-tincan-py35's Statement model (xAPI 1.0.3's
properties and types: an unknown property, a wrong type or a bad timestamp is refused).
Follows ADL's xAPI 1.0.3 specification (Data, Statement; Communication, Statement Resource)."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django_q.conf import Conf
from django_q.models import Schedule
from tincan import Statement

from learnlab.gate.client import aws_client
from learnlab.labs.catalog import lab_get
from learnlab.labs.services import step_check
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.lti import xapi
from learnlab.quiz.models import Answer

pytestmark = pytest.mark.django_db(transaction=True)
LAB = lab_get("instance-role")


@pytest.fixture
def lrs(settings, monkeypatch):
    received, status = [], {"code": 200}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append({"path": self.path, "headers": dict(self.headers), "body": body})
            payload = json.dumps([s["id"] for s in body]).encode()
            self.send_response(status["code"])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.LEARNLAB_XAPI_URL = f"http://127.0.0.1:{server.server_address[1]}/xapi/"
    settings.LEARNLAB_XAPI_USERNAME, settings.LEARNLAB_XAPI_PASSWORD = "lrs-key", "lrs-secret"
    monkeypatch.setattr(Conf, "SYNC", True)  # the job runs as it is queued
    yield received, status
    server.shutdown()
    server.server_close()


def _valid(statement: dict) -> Statement:
    return Statement.from_json(json.dumps(statement))


def _statements(received) -> list[dict]:
    return [s for request in received for s in request["body"]]


def test_a_check_sends_attempted_then_passed(lrs, sandbox):
    received, _ = lrs
    step = LAB.steps[0]
    step_check(learner=sandbox.learner, sandbox=sandbox, lab=LAB, step=step)
    iam = aws_client("iam", sandbox=sandbox)
    iam.create_role(RoleName="S3ReadForEC2", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.attach_role_policy(
        RoleName="S3ReadForEC2", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    )
    step_check(learner=sandbox.learner, sandbox=sandbox, lab=LAB, step=step)

    assert [r["path"] for r in received] == ["/xapi/statements"] * 2
    headers = received[0]["headers"]
    assert headers["X-Experience-API-Version"] == "1.0.3"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"lrs-key:lrs-secret").decode()
    statements = _statements(received)
    verbs = [s["verb"]["id"].rsplit("/", 1)[1] for s in statements]
    assert verbs == ["attempted", "attempted", "passed"]
    parsed = [_valid(s) for s in statements]
    assert parsed[0].result.success is False and parsed[1].result.success is True
    assert {s["object"]["id"] for s in statements} == {f"{xapi._home()}/lab/instance-role/#step-1"}
    assert statements[0]["actor"]["account"]["name"] == str(sandbox.learner.pk)
    assert statements[2]["context"]["contextActivities"]["parent"][0]["id"].endswith(
        "/lab/instance-role/"
    )


def test_completed_and_answered_statements_are_valid(lrs, sandbox):
    received, _ = lrs
    learner = sandbox.learner
    for statement in xapi.check_statements(
        learner=learner, lab=LAB, step=LAB.steps[-1], passed=True, message="ok", completed=True
    ):
        _valid(statement)
    completed = xapi.check_statements(
        learner=learner, lab=LAB, step=LAB.steps[-1], passed=True, message="ok", completed=True
    )[-1]
    assert completed["verb"]["id"] == "http://adlnet.gov/expapi/verbs/completed"
    assert completed["object"]["definition"]["type"] == xapi.LESSON
    Answer.objects.create(
        learner=learner, item_id="ep01-q1", chosen=[2], correct=True, mode="practice"
    )
    (answered,) = _statements(received)
    assert answered["verb"]["id"] == "http://adlnet.gov/expapi/verbs/answered"
    assert _valid(answered).result.success is True


def test_the_validator_refuses_a_malformed_statement(sandbox):
    statement = xapi.statement(
        learner=sandbox.learner, verb="passed", activity=xapi.lab_activity(LAB)
    )
    with pytest.raises((AttributeError, ValueError)):
        _valid({**statement, "grade": "A"})
    with pytest.raises(ValueError):
        _valid({**statement, "timestamp": "yesterday"})


def test_an_unavailable_lrs_is_retried_later_never_in_the_check(lrs, sandbox):
    received, status = lrs
    status["code"] = 503
    result = step_check(learner=sandbox.learner, sandbox=sandbox, lab=LAB, step=LAB.steps[0])
    assert result.passed is False  # the learner's Check stands
    assert len(received) == 1
    (retry,) = Schedule.objects.filter(func="learnlab.lti.jobs.statements_send")
    assert retry.schedule_type == Schedule.ONCE
    assert "2" in retry.args.rsplit(",", 1)[-1]  # the second attempt
