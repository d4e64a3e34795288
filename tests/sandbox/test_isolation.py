"""The sandbox server's own isolation layer: behind the gate, a forwarded call reaches only the
account it names, whatever other account its ARNs, parameters or bodies name.

Every call here goes straight to the real sandbox server process, as the gate forwards them
(the shared secret, ``x-moto-account-id``, a SigV4 header signed with the learner's own key),
so these hold even if the gate's own checks had a hole."""

import json

import pytest

from tests.sandbox.direct import REGION, json_call, q, query

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _role(sandbox_server, sandbox, name, trust_service="ec2.amazonaws.com"):
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"},
            {
                "Effect": "Allow",
                "Principal": {"Service": trust_service},
                "Action": "sts:AssumeRole",
            },
        ],
    }
    status, text = query(
        sandbox_server,
        sandbox,
        "iam",
        "2010-05-08",
        f"Action=CreateRole&RoleName={name}&AssumeRolePolicyDocument={q(json.dumps(trust))}",
    )
    assert status == 200, text
    return f"arn:aws:iam::{sandbox.account_id}:role/{name}"


def _refused(status, text):
    assert status == 403, text
    assert "AccessDenied" in text
    assert "AccessKeyId" not in text and "SecretAccessKey" not in text


def test_a_mixed_case_content_type_cannot_assume_another_accounts_role(
    sandbox_server, make_sandbox
):
    a, b = make_sandbox(), make_sandbox()
    b_role = _role(sandbox_server, b, "b-admin")
    for arn in (b_role, f"arn:aws:iam::{b.account_id}:role/not-there"):
        status, text = query(
            sandbox_server,
            a,
            "sts",
            "2011-06-15",
            f"Action=AssumeRole&RoleSessionName=x&RoleArn={q(arn)}",
            content_type="Application/x-www-form-urlencoded",
        )
        _refused(status, text)
        assert b.account_id not in text


def test_a_duplicated_role_arn_cannot_assume_another_accounts_role(sandbox_server, make_sandbox):
    a, b = make_sandbox(), make_sandbox()
    b_role, a_role = _role(sandbox_server, b, "b-admin"), _role(sandbox_server, a, "a-own")
    status, text = query(
        sandbox_server,
        a,
        "sts",
        "2011-06-15",
        f"Action=AssumeRole&RoleSessionName=x&RoleArn={q(b_role)}&RoleArn={q(a_role)}",
    )
    _refused(status, text)


def test_another_accounts_sns_topic_cannot_be_read_rewritten_or_deleted(
    sandbox_server, make_sandbox
):
    a, b = make_sandbox(), make_sandbox()
    status, text = query(sandbox_server, b, "sns", "2010-03-31", "Action=CreateTopic&Name=b-news")
    assert status == 200, text
    topic = f"arn:aws:sns:{REGION}:{b.account_id}:b-news"
    for raw in (
        f"Action=GetTopicAttributes&TopicArn={q(topic)}",
        f"Action=SetTopicAttributes&TopicArn={q(topic)}&AttributeName=DisplayName"
        "&AttributeValue=owned",
        f"Action=DeleteTopic&TopicArn={q(topic)}",
    ):
        _refused(
            *query(
                sandbox_server,
                a,
                "sns",
                "2010-03-31",
                raw,
                content_type="Application/x-www-form-urlencoded",
            )
        )
    status, text = query(
        sandbox_server, b, "sns", "2010-03-31", f"Action=GetTopicAttributes&TopicArn={q(topic)}"
    )
    assert status == 200 and "b-news" in text and "owned" not in text


def test_an_escaped_arn_in_json_cannot_send_events_to_another_accounts_bus(
    sandbox_server, make_sandbox
):
    a, b = make_sandbox(), make_sandbox()

    def events(sandbox, action, text):
        return json_call(sandbox_server, sandbox, "events", f"AWSEvents.{action}", text)

    # B's own set-up: a rule on B's default bus sending lab.app events to B's queue.
    status, text = json_call(
        sandbox_server, b, "sqs", "AmazonSQS.CreateQueue", json.dumps({"QueueName": "b-inbox"})
    )
    assert status == 200, text
    queue_url = json.loads(text)["QueueUrl"]
    pattern = json.dumps({"source": ["lab.app"]})
    for sandbox, target in (
        (b, f"arn:aws:sqs:{REGION}:{b.account_id}:b-inbox"),
        # A's rule on A's bus, aimed at B's bus, the ARN's first letter escaped.
        (a, f"\\u0061rn:aws:events:{REGION}:{b.account_id}:event-bus/default"),
    ):
        assert (
            events(sandbox, "PutRule", json.dumps({"Name": "r", "EventPattern": pattern}))[0] == 200
        )
        targets = '{"Rule": "r", "Targets": [{"Id": "1", "Arn": "%s"}]}' % target  # noqa: UP031
        status, text = events(sandbox, "PutTargets", targets)
        assert status == 200 and '"FailedEntryCount": 0' in text, text

    entry = {"Source": "lab.app", "DetailType": "x", "Detail": "{}"}
    _refused(*events(a, "PutEvents", json.dumps({"Entries": [entry]})))
    status, text = json_call(
        sandbox_server,
        b,
        "sqs",
        "AmazonSQS.ReceiveMessage",
        json.dumps({"QueueUrl": queue_url, "WaitTimeSeconds": 0}),
    )
    assert status == 200 and not json.loads(text).get("Messages"), text


def test_a_bare_peer_owner_id_cannot_open_a_peering_request_in_another_account(
    sandbox_server, make_sandbox
):
    a, b = make_sandbox(), make_sandbox()

    def vpcs(sandbox):
        status, text = query(sandbox_server, sandbox, "ec2", "2016-11-15", "Action=DescribeVpcs")
        assert status == 200, text
        return text.split("<vpcId>")[1].split("<")[0]

    a_vpc, b_vpc = vpcs(a), vpcs(b)
    status, text = query(
        sandbox_server,
        a,
        "ec2",
        "2016-11-15",
        f"Action=CreateVpcPeeringConnection&VpcId={a_vpc}&PeerVpcId={b_vpc}"
        f"&PeerOwnerId={b.account_id}",
    )
    _refused(status, text)
    status, text = query(
        sandbox_server, b, "ec2", "2016-11-15", "Action=DescribeVpcPeeringConnections"
    )
    assert status == 200 and "pcx-" not in text


def test_own_account_calls_still_work(sandbox_server, sandbox):
    own = _role(sandbox_server, sandbox, "mine")
    status, text = query(
        sandbox_server,
        sandbox,
        "sts",
        "2011-06-15",
        f"Action=AssumeRole&RoleSessionName=x&RoleArn={q(own)}",
    )
    assert status == 200 and "AccessKeyId" in text, text
    status, text = query(
        sandbox_server,
        sandbox,
        "iam",
        "2010-05-08",
        "Action=GetPolicy&PolicyArn=" + q("arn:aws:iam::aws:policy/AdministratorAccess"),
    )
    assert status == 200, text
