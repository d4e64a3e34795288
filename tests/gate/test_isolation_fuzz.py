"""Hostile requests, generated: whatever Alice sends, no answer names Bob's account and nothing
in Bob's account changes.

Each request is signed with Alice's real key by botocore's SigV4 signer and goes through the
real gate to the real sandbox server. Hypothesis mixes the tricks that got past the gate's old
text scan: content types in any case (with parameters), parameters duplicated or split between
the query string and the body, JSON with any character as a ``\\uXXXX`` escape, percent-encoded
characters, and Bob's account id (in ARNs and bare) in parameters, JSON documents and headers.
"""

import json
from urllib.parse import quote

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learnlab.gate import limits
from learnlab.gate.client import aws_client
from learnlab.gate.services import GateRequest, gate_handle
from learnlab.lib.iam_policy import EC2_TRUST_POLICY

pytestmark = pytest.mark.django_db(transaction=True)

ENDPOINT = "http://gate.learnlab.internal"
FORM = "application/x-www-form-urlencoded"
# Operations that would reach Bob's account if moto took the account from what Alice wrote.
# {bob} is Bob's account id, {vpc}/{bob_vpc} the two default VPCs, {instance} Bob's instance.
OPERATIONS = [
    ("sts", {"Action": "AssumeRole", "Version": "2011-06-15", "RoleSessionName": "fuzz",
             "RoleArn": "arn:aws:iam::{bob}:role/bobs-role"}),
    ("iam", {"Action": "GetRole", "Version": "2010-05-08", "RoleName": "bobs-role"}),
    ("iam", {"Action": "DeleteRole", "Version": "2010-05-08", "RoleName": "bobs-role"}),
    ("iam", {"Action": "DetachRolePolicy", "Version": "2010-05-08", "RoleName": "bobs-role",
             "PolicyArn": "arn:aws:iam::{bob}:policy/bobs-policy"}),
    ("iam", {"Action": "DeletePolicy", "Version": "2010-05-08",
             "PolicyArn": "arn:aws:iam::{bob}:policy/bobs-policy"}),
    ("iam", {"Action": "CreateRole", "Version": "2010-05-08", "RoleName": "door",
             "AssumeRolePolicyDocument": json.dumps({"Version": "2012-10-17", "Statement": [
                 {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::{bob}:root"},
                  "Action": "sts:AssumeRole"}]})}),
    ("ec2", {"Action": "CreateVpcPeeringConnection", "Version": "2016-11-15", "VpcId": "{vpc}",
             "PeerVpcId": "{bob_vpc}", "PeerOwnerId": "{bob}"}),
    ("ec2", {"Action": "DescribeImages", "Version": "2016-11-15", "Owner.1": "{bob}"}),
    ("ec2", {"Action": "TerminateInstances", "Version": "2016-11-15",
             "InstanceId.1": "{instance}"}),
    ("sns", {"Action": "DeleteTopic", "Version": "2010-03-31",
             "TopicArn": "arn:aws:sns:us-east-1:{bob}:bobs-topic"}),
]  # fmt: skip
JSON_OPERATION = (
    "events",
    "AWSEvents.PutTargets",
    {"Rule": "r", "EventBusName": "arn:aws:events:us-east-1:{bob}:event-bus/default",
     "Targets": [{"Id": "t", "Arn": "arn:aws:sqs:us-east-1:{bob}:q"}]},
)  # fmt: skip


@st.composite
def mixed_case(draw, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.upper() if flip else c for c, flip in zip(text, flips, strict=True))


@st.composite
def json_escaped(draw, text: str) -> str:
    """A JSON text with any of its string characters written as \\uXXXX (as moto decodes)."""
    out, in_string, escaped = [], False, False
    for char in text:
        if in_string and not escaped and char not in '"\\' and draw(st.booleans()):
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
        escaped = in_string and char == "\\" and not escaped
        if char == '"' and not escaped:
            in_string = not in_string
    return "".join(out)


@st.composite
def percent_encoded(draw, text: str) -> str:
    """A form value with any of its characters percent-encoded."""
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(
        "".join(f"%{b:02X}" for b in c.encode()) if flip else quote(c, safe="")
        for c, flip in zip(text, flips, strict=True)
    )


def fill(value: str, world: dict) -> str:
    for name, replacement in world.items():
        value = value.replace("{" + name + "}", replacement)
    return value


@st.composite
def query_requests(draw, world: dict):
    service, template = draw(st.sampled_from(OPERATIONS))
    pairs = []
    for name, value in template.items():
        value = fill(value, world)
        if value.startswith("{") and draw(st.booleans()):
            value = draw(json_escaped(value))
        pairs.append([name, draw(percent_encoded(value))])
    if draw(st.booleans()):  # a stray bare or ARN id in a parameter of its own
        stray = draw(st.sampled_from(["{bob}", "arn:aws:iam::{bob}:root", " {bob} "]))
        pairs.append(["Tag.1.Value", quote(fill(stray, world), safe="")])
    if draw(st.booleans()):  # the same name twice, Bob's value first or last
        name, value = draw(st.sampled_from(pairs))
        twin = [name, quote(world["alice"], safe="")]
        pairs.insert(draw(st.integers(0, len(pairs))), twin)
    encoded = "&".join(f"{quote(name, safe='.')}={value}" for name, value in pairs)
    place = draw(st.sampled_from(["body", "query", "split"]))
    split = draw(st.integers(0, len(pairs)))
    if place == "body":
        query, body = "", encoded
    elif place == "query":
        query, body = encoded, ""
    else:
        query = "&".join(encoded.split("&")[:split])
        body = "&".join(encoded.split("&")[split:])
    content_type = draw(mixed_case(FORM)) + draw(st.sampled_from(["", "; charset=utf-8"]))
    method = "GET" if place == "query" and draw(st.booleans()) else "POST"
    return service, method, query, body.encode(), {"content-type": content_type}


@st.composite
def json_requests(draw, world: dict):
    service, target, template = JSON_OPERATION
    text = fill(json.dumps(template), world)
    body = draw(json_escaped(text)).encode()
    return service, "POST", "", body, {"content-type": "application/x-amz-json-1.1",
                                       "x-amz-target": target}  # fmt: skip


@st.composite
def hostile_requests(draw, world: dict):
    service, method, query, body, headers = draw(
        st.one_of(query_requests(world), json_requests(world))
    )
    if draw(st.booleans()):  # Bob's id in a header
        header = draw(st.sampled_from(["x-amz-meta-owner", "x-moto-account-id", "x-fuzz"]))
        headers[header] = fill(draw(st.sampled_from(["{bob}", "arn:aws:iam::{bob}:root"])), world)
    return service, method, query, body, headers


def signed(alice, service, method, query, body, headers) -> GateRequest:
    key = alice.lab_key()
    url = f"{ENDPOINT}/aws/" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    credentials = Credentials(key.access_key_id, key.secret_access_key, key.session_token or None)
    SigV4Auth(credentials, service, "us-east-1").add_auth(request)
    sent = {name.lower(): value for name, value in request.headers.items()}
    sent["host"] = "gate.learnlab.internal"
    return GateRequest(method=method, raw_path="/aws/", query=query, headers=sent, body=body)


def bobs_world(bob) -> dict:
    iam, ec2 = aws_client("iam", sandbox=bob), aws_client("ec2", sandbox=bob)
    return {
        "roles": sorted(r["Arn"] for r in iam.list_roles()["Roles"]),
        "policies": [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]],
        "attached": iam.list_attached_role_policies(RoleName="bobs-role")["AttachedPolicies"],
        "peerings": ec2.describe_vpc_peering_connections()["VpcPeeringConnections"],
        "instances": sorted(
            (i["InstanceId"], i["State"]["Name"])
            for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]
        ),
    }


def test_no_hostile_request_names_or_touches_another_account(make_sandbox, monkeypatch):
    # 80 requests back to back from one sandbox: past the rate limit, which is not under test.
    monkeypatch.setattr(limits, "buckets", limits.TokenBuckets(rate=0, burst=0))
    alice, bob = make_sandbox(), make_sandbox()
    bob_iam, bob_ec2 = aws_client("iam", sandbox=bob), aws_client("ec2", sandbox=bob)
    bob_iam.create_role(RoleName="bobs-role", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    policy = bob_iam.create_policy(
        PolicyName="bobs-policy",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }
        ),
    )
    bob_iam.attach_role_policy(RoleName="bobs-role", PolicyArn=policy["Policy"]["Arn"])
    instance = bob_ec2.run_instances(
        ImageId="ami-0453ec754f44f9a4a", InstanceType="t3.micro", MinCount=1, MaxCount=1
    )["Instances"][0]["InstanceId"]
    world = {
        "bob": bob.account_id,
        "alice": alice.account_id,
        "vpc": aws_client("ec2", sandbox=alice).describe_vpcs()["Vpcs"][0]["VpcId"],
        "bob_vpc": bob_ec2.describe_vpcs()["Vpcs"][0]["VpcId"],
        "instance": instance,
    }
    before = bobs_world(bob)
    seen_statuses = set()

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    @given(request=hostile_requests(world))
    def alice_tries(request):
        response = gate_handle(signed(alice, *request))
        seen_statuses.add(response.status)
        assert response.status < 500, response.body
        assert bob.account_id.encode() not in response.body, (request, response.body)
        assert all(bob.account_id not in str(value) for value in response.headers.values())

    alice_tries()
    assert bobs_world(bob) == before
    assert seen_statuses & {400, 403}  # the gate really refused things
