"""Nothing a learner names makes the sandbox server wait on the outside world: it opens no
outbound connection at all, and LearnLab's own calls to it give up at a deadline."""

import json
import socket
import threading
import time

import pytest

from learnlab.sandbox import connection
from tests.sandbox.direct import json_call, q, query

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


class SilentPeer:
    """A real TCP listener on loopback that accepts and never answers (a slow endpoint), and
    hangs up after ``hold`` seconds so a test against unfixed code ends too."""

    def __init__(self, hold: float = 6.0):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted, self.hold = 0, hold
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                peer, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Timer(self.hold, peer.close).start()

    def close(self):
        self.listener.close()


@pytest.fixture
def silent_peer():
    peer = SilentPeer()
    yield peer
    peer.close()


def _timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_an_sns_http_subscription_never_reaches_out_and_answers_at_once(
    sandbox_server, make_sandbox, silent_peer
):
    a, b = make_sandbox(), make_sandbox()
    sns = "2010-03-31"
    status, text = query(sandbox_server, a, "sns", sns, "Action=CreateTopic&Name=alerts")
    assert status == 200, text
    topic = q(text.split("<TopicArn>")[1].split("<")[0])
    endpoint = q(f"http://127.0.0.1:{silent_peer.port}/hook")
    for raw in (
        f"Action=Subscribe&TopicArn={topic}&Protocol=http&Endpoint={endpoint}",
        f"Action=Publish&TopicArn={topic}&Message=hello",
    ):
        (status, text), took = _timed(lambda raw=raw: query(sandbox_server, a, "sns", sns, raw))
        assert took < 2, f"{raw}: {took:.1f} s"
        assert status < 500, text  # an answer in AWS's shape, never a server fault
        # Another learner is not held up meanwhile.
        (status, _), took = _timed(
            lambda: query(sandbox_server, b, "iam", "2010-05-08", "Action=ListRoles")
        )
        assert status == 200 and took < 1
    time.sleep(0.2)
    assert silent_peer.accepted == 0


def test_a_firehose_http_destination_never_reaches_out(sandbox_server, sandbox, silent_peer):
    # No account but the learner's own is involved: only the network block stops this one.
    stream = {
        "DeliveryStreamName": "out",
        "HttpEndpointDestinationConfiguration": {
            "EndpointConfiguration": {"Url": f"http://127.0.0.1:{silent_peer.port}/"},
            "S3Configuration": {
                "RoleARN": f"arn:aws:iam::{sandbox.account_id}:role/firehose",
                "BucketARN": "arn:aws:s3:::out-bucket",
            },
        },
    }
    target = "Firehose_20150804."
    status, text = json_call(
        sandbox_server, sandbox, "firehose", target + "CreateDeliveryStream", json.dumps(stream)
    )
    assert status == 200, text
    record = {"DeliveryStreamName": "out", "Record": {"Data": "aGVsbG8="}}
    _, took = _timed(
        lambda: json_call(
            sandbox_server, sandbox, "firehose", target + "PutRecord", json.dumps(record)
        )
    )
    assert took < 2
    time.sleep(0.2)
    assert silent_peer.accepted == 0


def test_aws_calls_give_up_at_their_deadline(settings, silent_peer, monkeypatch):
    settings.LEARNLAB_SANDBOX_URL = f"http://127.0.0.1:{silent_peer.port}"
    monkeypatch.setattr(connection, "AWS_CALL_DEADLINE", 0.5, raising=False)
    started = time.monotonic()
    with pytest.raises(connection.SandboxServerUnavailable):
        connection.forward("POST", "/", headers={}, body=b"Action=ListRoles", server=0)
    assert time.monotonic() - started < 2
    assert silent_peer.accepted == 1


def test_internal_calls_give_up_at_their_deadline(settings, silent_peer, monkeypatch):
    settings.LEARNLAB_SANDBOX_URL = f"http://127.0.0.1:{silent_peer.port}"
    monkeypatch.setattr(connection, "ADMIN_DEADLINE", 0.5, raising=False)
    started = time.monotonic()
    with pytest.raises(connection.SandboxServerUnavailable):
        connection.health(server=0)
    assert time.monotonic() - started < 2
