"""Two learners cannot see or touch each other's resources by any route."""

import contextlib
import json
import urllib.error
import urllib.request

import pytest

from learnlab.gate.client import aws_client
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from tests.helpers import json_out

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice(make_sandbox):
    return make_sandbox()


@pytest.fixture
def bob(make_sandbox):
    return make_sandbox()


def test_each_learner_has_their_own_account(alice, bob):
    assert alice.account_id != bob.account_id
    assert alice.lab_key().access_key_id != bob.lab_key().access_key_id


def test_one_learners_roles_are_invisible_to_another(aws, alice, bob):
    aws(
        "iam",
        "create-role",
        "--role-name",
        "alices-role",
        "--assume-role-policy-document",
        EC2_TRUST_POLICY,
        sandbox=alice,
        check=True,
    )
    assert json_out(aws("iam", "list-roles", sandbox=bob))["Roles"] == []
    assert (
        "(NoSuchEntity)" in aws("iam", "get-role", "--role-name", "alices-role", sandbox=bob).stderr
    )
    assert aws("iam", "delete-role", "--role-name", "alices-role", sandbox=bob).returncode != 0
    assert [r["RoleName"] for r in json_out(aws("iam", "list-roles", sandbox=alice))["Roles"]] == [
        "alices-role"
    ]


def test_assuming_a_role_in_another_sandbox_is_denied(aws, alice, bob):
    trust_everyone = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
            ],
        }
    )
    aws(
        "iam",
        "create-role",
        "--role-name",
        "open-door",
        "--assume-role-policy-document",
        trust_everyone,
        sandbox=alice,
        check=True,
    )
    result = aws(
        "sts",
        "assume-role",
        "--role-arn",
        f"arn:aws:iam::{alice.account_id}:role/open-door",
        "--role-session-name",
        "escape",
        sandbox=bob,
    )
    assert "(AccessDenied)" in result.stderr


@contextlib.contextmanager
def extra_header(client, name: str, value: str):
    """Add a header to the client's requests; the shared gate client outlives this test."""
    handler_id = f"test-header-{name}"
    client.meta.events.register(
        "before-sign.*.*",
        lambda request, **kw: request.headers.__setitem__(name, value),
        unique_id=handler_id,
    )
    try:
        yield client
    finally:
        client.meta.events.unregister("before-sign.*.*", unique_id=handler_id)


def test_a_forged_account_header_is_refused(gate_url, alice, bob):
    """The gate decides the account from the key; a learner's header naming another account is
    refused without repeating it."""
    aws_client("iam", sandbox=alice).create_role(
        RoleName="alices-role", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    iam = aws_client("iam", sandbox=bob)
    with (
        extra_header(iam, "x-moto-account-id", alice.account_id),
        pytest.raises(iam.exceptions.ClientError) as refused,
    ):
        iam.list_roles()
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert alice.account_id not in str(refused.value)


def test_s3_objects_stay_in_their_sandbox(aws, alice, bob, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("alice's notes")
    aws("s3", "mb", "s3://alices-bucket-1", sandbox=alice, check=True)
    aws("s3", "cp", str(secret), "s3://alices-bucket-1/secret.txt", sandbox=alice, check=True)
    read = aws("s3", "cp", "s3://alices-bucket-1/secret.txt", "-", sandbox=bob)
    assert read.returncode != 0
    assert "alice's notes" not in read.stdout
    assert "alices-bucket-1" not in aws("s3", "ls", sandbox=bob).stdout


def test_pages_show_each_browser_only_its_own_keys(live_server, sandbox_server):
    def env_for_new_browser():
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        opener.open(live_server.url + "/sandbox/panel").read()  # a session and a sandbox
        first = opener.open(live_server.url + "/sandbox/env").read().decode()
        again = opener.open(live_server.url + "/sandbox/env").read().decode()
        assert first == again  # the same browser keeps its sandbox
        return first

    one, two = env_for_new_browser(), env_for_new_browser()
    assert one != two
    key_one = next(line for line in one.splitlines() if "AWS_ACCESS_KEY_ID" in line)
    assert key_one not in two


def test_a_guessed_gate_secret_header_earns_nothing(gate_url, alice, bob):
    """Only the gate vouches for a request; a learner's own secret header is dropped."""
    with extra_header(aws_client("iam", sandbox=bob), "X-LearnLab-Secret", "guess") as iam:
        assert iam.list_roles()["Roles"] == []


@pytest.mark.parametrize("admin", ["_admin", "%5Fadmin", "%5fadmin", "/_admin", "%2F_admin"])
def test_a_signed_request_cannot_reach_the_internal_endpoints(live_server, alice, bob, admin):
    """The gate vouches for what it forwards with the shared secret: however the path is
    spelled, an internal endpoint (here: another learner's role credentials) stays out of reach."""
    import urllib3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    aws_client("iam", sandbox=bob).create_role(
        RoleName="bobs", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    key = alice.lab_key()
    url = f"{live_server.url}/aws/{admin}/accounts/{bob.account_id}/roles/bobs"
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials(key.access_key_id, key.secret_access_key), "iam", "us-east-1").add_auth(
        request
    )
    answer = urllib3.request("GET", url, headers=dict(request.headers.items()), retries=False)
    assert answer.status == 403, answer.data
    assert b"arn:aws:iam::" not in answer.data


def test_the_sandbox_server_refuses_internal_calls_that_name_an_account(sandbox_server, bob):
    answer = urllib.request.Request(
        f"{sandbox_server['url']}/_admin/accounts/{bob.account_id}/instance-profiles/x",
        headers={"X-LearnLab-Secret": sandbox_server["secret"], "X-Moto-Account-Id": "1" * 12},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(answer)
    assert refused.value.code == 403


def test_lab_keys_do_not_follow_from_the_account_id(sandbox_server):
    from learnlab.sandbox import connection

    keys = []
    for _ in range(2):
        keys.append(connection.account_bootstrap("300000000099", user_name="learnlab"))
        connection.account_drop("300000000099")
    assert keys[0]["access_key_id"] != keys[1]["access_key_id"]
    assert keys[0]["secret_access_key"] != keys[1]["secret_access_key"]


# The four ways past the gate's old text scan, over HTTP as a hostile learner would send them:
# raw requests signed with botocore's own SigV4 signer against the live gate.


def send_signed(
    live_server, sandbox, service, *, body="", query="", path="/aws/", headers=None, method="POST"
):
    """A request signed as ``sandbox``'s lab user, sent byte for byte (http.client keeps the
    path as given: no dot-segment clean-up). Returns (status, body text)."""
    import http.client

    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    key = sandbox.lab_key()
    target = path + (f"?{query}" if query else "")
    data = body.encode() if isinstance(body, str) else body
    request = AWSRequest(method=method, url=live_server.url + target, data=data)
    for name, value in (headers or {}).items():
        request.headers[name] = value
    signer = S3SigV4Auth if service == "s3" else SigV4Auth
    credentials = Credentials(key.access_key_id, key.secret_access_key, key.session_token or None)
    signer(credentials, service, "us-east-1").add_auth(request)
    host, port = live_server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(method, target, body=data, headers=dict(request.headers.items()))
        answer = connection.getresponse()
        return answer.status, answer.read().decode("utf-8", "replace")
    finally:
        connection.close()


def trusting(principal: dict) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
        }
    )


def bobs_world(bob) -> dict:
    """What a trick could change in Bob's account."""
    iam, ec2 = aws_client("iam", sandbox=bob), aws_client("ec2", sandbox=bob)
    return {
        "roles": sorted(r["Arn"] for r in iam.list_roles()["Roles"]),
        "peerings": ec2.describe_vpc_peering_connections()["VpcPeeringConnections"],
        "vpcs": sorted(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]),
    }


def default_vpc(sandbox) -> str:
    return aws_client("ec2", sandbox=sandbox).describe_vpcs()["Vpcs"][0]["VpcId"]


def assume_role_form(role_arn: str) -> str:
    from urllib.parse import quote

    return (
        f"Action=AssumeRole&Version=2011-06-15&RoleArn={quote(role_arn, safe='')}"
        "&RoleSessionName=escape"
    )


@pytest.mark.parametrize("role", ["ec2-only", "no-such-role"])
def test_a_capitalised_form_content_type_does_not_hide_another_account(
    live_server, alice, bob, role
):
    """Trick 1: the gate read no body for `Application/x-www-form-urlencoded`; moto did, and
    Alice assumed Bob's roles, even one that trusts only EC2 and one that does not exist."""
    aws_client("iam", sandbox=bob).create_role(
        RoleName="ec2-only", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    status, answer = send_signed(
        live_server,
        alice,
        "sts",
        body=assume_role_form(f"arn:aws:iam::{bob.account_id}:role/{role}"),
        headers={"Content-Type": "Application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert status == 403, answer
    assert "<Code>AccessDenied</Code>" in answer
    assert "SecretAccessKey" not in answer
    assert bob.account_id not in answer


def test_a_capitalised_form_content_type_cannot_peer_into_another_account(live_server, alice, bob):
    before = bobs_world(bob)
    status, answer = send_signed(
        live_server,
        alice,
        "ec2",
        body=(
            f"Action=CreateVpcPeeringConnection&Version=2016-11-15&VpcId={default_vpc(alice)}"
            f"&PeerVpcId={default_vpc(bob)}&PeerOwnerId={bob.account_id}"
        ),
        headers={"Content-Type": "APPLICATION/X-WWW-FORM-URLENCODED"},
    )
    assert status == 403, answer
    assert "<Code>UnauthorizedOperation</Code>" in answer
    assert bob.account_id not in answer
    assert bobs_world(bob) == before


def test_a_duplicated_parameter_is_refused(live_server, alice, bob):
    """Trick 2: `RoleArn=<Bob's>&RoleArn=<Alice's>`: the gate checked the last, moto used the
    first. Alice's own role trusts her, so only the duplicate is wrong."""
    principal = alice.lab_key().principal_arn
    aws_client("iam", sandbox=alice).create_role(
        RoleName="mine", AssumeRolePolicyDocument=trusting({"AWS": principal})
    )
    aws_client("iam", sandbox=bob).create_role(
        RoleName="ec2-only", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    bobs = assume_role_form(f"arn:aws:iam::{bob.account_id}:role/ec2-only")
    alices = assume_role_form(f"arn:aws:iam::{alice.account_id}:role/mine")
    for body in (bobs + "&" + alices.split("&", 2)[2], alices + "&" + bobs.split("&", 2)[2]):
        status, answer = send_signed(
            live_server,
            alice,
            "sts",
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        assert status in (400, 403), answer
        assert "SecretAccessKey" not in answer
        assert bob.account_id not in answer
    # Once, it works: the refusal is the duplicate, not the role.
    status, answer = send_signed(
        live_server,
        alice,
        "sts",
        body=alices,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert status == 200, answer
    assert "SecretAccessKey" in answer


def test_a_json_escaped_account_in_a_policy_document_is_seen(live_server, alice, bob):
    """Trick 3: a JSON `\\u0061rn:` escape: not matched by the gate's regex, decoded by moto.
    Here the escaped ARN names Bob's account in a trust policy Alice sends."""
    from urllib.parse import quote

    escaped = trusting({"AWS": "ARN"}).replace(
        '"ARN"',
        '"\\u0061rn:aws:iam::' + "".join(f"\\u{ord(c):04x}" for c in bob.account_id) + ':root"',
    )
    status, answer = send_signed(
        live_server,
        alice,
        "iam",
        body=(
            "Action=CreateRole&Version=2010-05-08&RoleName=door"
            f"&AssumeRolePolicyDocument={quote(escaped, safe='')}"
        ),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert status == 403, answer
    assert bob.account_id not in answer
    assert aws_client("iam", sandbox=alice).list_roles()["Roles"] == []


def test_a_json_protocol_service_is_not_forwarded(live_server, alice, bob):
    """Trick 3 as found: EventBridge `PutTargets` on Bob's bus through a JSON escape. EventBridge
    is not part of the lab: the gate forwards no JSON-protocol service at all."""
    bus = "\\u0061rn:aws:events:us-east-1:" + bob.account_id + ":event-bus/default"
    status, answer = send_signed(
        live_server,
        alice,
        "events",
        body='{"Rule": "r", "EventBusName": "' + bus + '", "Targets": []}',
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AWSEvents.PutTargets",
        },
    )
    assert status == 403, answer
    assert json.loads(answer)["__type"] == "OptInRequired"
    assert bob.account_id not in answer


def test_a_bare_account_id_is_refused(live_server, alice, bob):
    """Trick 4: `ec2 create-vpc-peering-connection --peer-owner-id <Bob>`: a bare 12-digit id,
    no ARN, and the peering appeared in Bob's account."""
    before = bobs_world(bob)
    status, answer = send_signed(
        live_server,
        alice,
        "ec2",
        body=(
            f"Action=CreateVpcPeeringConnection&Version=2016-11-15&VpcId={default_vpc(alice)}"
            f"&PeerVpcId={default_vpc(bob)}&PeerOwnerId={bob.account_id}"
        ),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert status == 403, answer
    assert "<Code>UnauthorizedOperation</Code>" in answer
    assert bob.account_id not in answer
    assert bobs_world(bob) == before
    # The same call within Alice's own account is fine.
    own = aws_client("ec2", sandbox=alice).create_vpc_peering_connection(
        VpcId=default_vpc(alice), PeerVpcId=default_vpc(alice), PeerOwnerId=alice.account_id
    )
    assert own["VpcPeeringConnection"]["VpcPeeringConnectionId"].startswith("pcx-")


@pytest.mark.parametrize(
    ("service", "body"),
    [
        ("sns", "Action=ListTopics&Version=2010-03-31"),
        (
            "sns",
            "Action=Subscribe&Version=2010-03-31&Protocol=http&Endpoint=http%3A%2F%2F127.0.0.1%3A9%2F"
            "&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At",
        ),
        ("sqs", "Action=ListQueues&Version=2012-11-05"),
        ("IAM", "Action=ListRoles&Version=2010-05-08"),
    ],
)
def test_services_the_lab_does_not_offer_are_refused(live_server, alice, service, body):
    """Every moto service used to be forwarded (SNS HTTP subscriptions: the sandbox server POSTs
    to any URL). The gate forwards IAM, EC2, STS and S3 only."""
    status, answer = send_signed(
        live_server,
        alice,
        service,
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert status == 403, answer
    assert "IAM, EC2, STS and S3" in answer
    if service == "sns":  # a query API: AWS's XML shape with the code
        assert "<Code>OptInRequired</Code>" in answer


@pytest.mark.parametrize(
    ("service", "body", "code"),
    [
        ("sts", "Action=GetAccessKeyInfo&Version=2011-06-15&AccessKeyId=AKIAX", "InvalidAction"),
        ("iam", "Action=CreateSAMLProvider&Version=2010-05-08&Name=x", "InvalidAction"),
        ("ec2", "Action=ImportInstance&Version=2016-11-15", "InvalidAction"),
        ("iam", "Version=2010-05-08", "MissingAction"),
    ],
)
def test_operations_outside_the_allowlist_are_invalid_actions(
    live_server, alice, service, body, code
):
    status, answer = send_signed(
        live_server,
        alice,
        service,
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert status == 400, answer
    assert f"<Code>{code}</Code>" in answer
    if code == "InvalidAction":
        assert "is not valid for this web service." in answer


@pytest.mark.parametrize(
    "query", ["uploads", "uploadId=abc&partNumber=1", "notification", "replication"]
)
def test_s3_multipart_uploads_and_unoffered_subresources_are_refused(live_server, alice, query):
    bucket = f"uploads-{alice.account_id}"
    aws_client("s3", sandbox=alice).create_bucket(Bucket=bucket)
    method = "POST" if query == "uploads" else "PUT"
    status, answer = send_signed(
        live_server, alice, "s3", method=method, path=f"/aws/{bucket}/big", query=query
    )
    assert status == 400, answer
    assert "<Code>InvalidRequest</Code>" in answer


@pytest.mark.parametrize(
    "path",
    [
        "/aws/./_admin/accounts/{bob}/roles/bobs",
        "/aws/x/../_admin/accounts/{bob}/roles/bobs",
        "/aws/%2e/_admin/accounts/{bob}/roles/bobs",
        "/aws/%2E%2E/_admin/health",
        "/aws//_admin/health",
        "/aws/./latest/meta-data/",
    ],
)
def test_dot_segments_never_reach_the_sandbox_servers_router(live_server, alice, bob, path):
    """`/aws/./_admin/...` reached the sandbox server's internal router: the gate refuses dot
    segments and empty segments itself, before anything is forwarded."""
    aws_client("iam", sandbox=bob).create_role(
        RoleName="bobs", AssumeRolePolicyDocument=EC2_TRUST_POLICY
    )
    status, answer = send_signed(
        live_server, alice, "iam", path=path.format(bob=bob.account_id), method="GET"
    )
    assert status == 403, answer
    assert "<Code>AccessDenied</Code><Message>Access Denied</Message>" in answer
    assert "Not here" not in answer  # the sandbox server's own refusal: it never got that far
    assert bob.account_id not in answer


def test_plain_http_is_refused_in_secure_mode(client, settings, alice):
    """With LEARNLAB_SECURE=1 the gate answered plain HTTP: keys would cross the network in
    clear. HTTPS (as the proxy reports it) still works."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    settings.SECURE_MODE = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    key = alice.lab_key()
    body = "Action=GetCallerIdentity&Version=2011-06-15"

    def call(scheme: str, **extra):
        request = AWSRequest(
            method="POST",
            url=f"{scheme}://testserver/aws/",
            data=body.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        SigV4Auth(
            Credentials(key.access_key_id, key.secret_access_key), "sts", "us-east-1"
        ).add_auth(request)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-type"}
        headers["Host"] = "testserver"  # signed; Django's test client sends none by itself
        return client.post(
            "/aws/",
            data=body,
            content_type="application/x-www-form-urlencoded; charset=utf-8",
            headers=headers,
            **extra,
        )

    plain = call("http")
    assert plain.status_code == 403, plain.content
    assert b"<Code>AccessDenied</Code>" in plain.content
    assert b"only over HTTPS" in plain.content
    secure = call("https", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200, secure.content
    assert alice.account_id.encode() in secure.content


NESTED = "[" * 20_000 + "]" * 20_000  # 120 KB sent: under the gate's 256 KiB body cap


def test_a_deeply_nested_policy_document_is_malformed_not_a_500(alice):
    """40,000 nested brackets gave a 500 (RecursionError): AWS's MalformedPolicyDocument."""
    iam = aws_client("iam", sandbox=alice)
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    for call in (
        lambda: iam.create_role(RoleName="deep", AssumeRolePolicyDocument=NESTED),
        lambda: iam.put_role_policy(RoleName="app", PolicyName="deep", PolicyDocument=NESTED),
        lambda: iam.create_policy(PolicyName="deep", PolicyDocument='{"a":' + NESTED + "}"),
    ):
        with pytest.raises(iam.exceptions.ClientError) as refused:
            call()
        error = refused.value.response
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert error["Error"]["Code"] == "MalformedPolicyDocument"
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["app"]


def test_s3_configuration_bodies_are_read_decoded(live_server, alice, bob):
    """S3's policy and configuration bodies are read as moto reads them: a JSON escape in a
    bucket policy, or an XML character reference in a tag set, still names Bob's account.
    Object data is never read: an object may hold any digits."""
    s3 = aws_client("s3", sandbox=alice)
    bucket = f"config-{alice.account_id}"
    s3.create_bucket(Bucket=bucket)
    escaped = "".join(f"\\u{ord(c):04x}" for c in bob.account_id)
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "ARN"},
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ],
        }
    ).replace("ARN", f"arn:aws:iam::{escaped}:root")
    referenced = "".join(f"&#{ord(c)};" for c in bob.account_id)
    tagging = (
        '<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>peer</Key>'
        f"<Value>{referenced}</Value></Tag></TagSet></Tagging>"
    )
    for query, body in (("policy", policy), ("tagging", tagging)):
        status, answer = send_signed(
            live_server, alice, "s3", method="PUT", path=f"/aws/{bucket}", query=query, body=body
        )
        assert status == 403, answer
        assert bob.account_id not in answer
    with pytest.raises(s3.exceptions.ClientError):
        s3.get_bucket_policy(Bucket=bucket)
    data = f"{bob.account_id}\n".encode()
    s3.put_object(Bucket=bucket, Key="numbers.txt", Body=data)
    assert s3.get_object(Bucket=bucket, Key="numbers.txt")["Body"].read() == data
