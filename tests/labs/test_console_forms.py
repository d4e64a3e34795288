"""Console forms keep their promises: nothing half-made, the chosen role's state shown, a launch
default that EC2 accepts, and no 500 on bad input. Through Django's test client, the in-process
gate and the real sandbox server."""

import json
import re

import pytest
from django.utils.html import escape

from learnlab.gate.client import aws_client
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox.models import Sandbox

HTMX = {"HTTP_HX_REQUEST": "true"}
LAB = "/lab/instance-role/"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
GOOD_INLINE = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
    }
)


@pytest.fixture
def lab_client(client, sandbox_server, db):
    assert client.get(LAB).status_code == 200
    return client


def _sandbox(client) -> Sandbox:
    return Sandbox.objects.get(learner_id=client.session["learner_id"])


def _iam(client):
    return aws_client("iam", sandbox=_sandbox(client))


def _create_role(client, htmx=True, **overrides):
    data = {
        "role_for_ec2-role_name": "S3ReadForEC2",
        "role_for_ec2-description": "",
        "role_for_ec2-trust_policy": EC2_TRUST_POLICY,
        "role_for_ec2-managed_policies": [S3_READ],
    } | overrides
    return client.post(f"{LAB}console/role_for_ec2", data, **(HTMX if htmx else {}))


def _nothing_in(client):
    iam = _iam(client)
    assert iam.list_roles()["Roles"] == []
    assert iam.list_instance_profiles()["InstanceProfiles"] == []


def test_a_bad_inline_policy_creates_nothing_and_the_corrected_retry_succeeds(lab_client):
    """IAM's wording for a malformed permissions policy: PutRolePolicy answers
    MalformedPolicyDocument "Syntax errors in policy." (IAM API reference, PutRolePolicy)."""
    bad = _create_role(lab_client, **{"role_for_ec2-inline_policy": '{"Statement": ['})
    page = bad.content.decode()
    assert bad.status_code == 200
    assert "Nothing was created in your sandbox." in page
    assert (
        "An error occurred (MalformedPolicyDocument) when calling the PutRolePolicy operation: "
        "Syntax errors in policy." in page
    )
    assert "IAM CreateRole" not in page  # no call was made
    assert "HX-Trigger" not in bad
    _nothing_in(lab_client)

    retry = _create_role(lab_client, **{"role_for_ec2-inline_policy": GOOD_INLINE})
    assert 'data-testid="console-done"' in retry.content.decode()
    iam = _iam(lab_client)
    assert iam.list_role_policies(RoleName="S3ReadForEC2")["PolicyNames"] == ["S3ReadForEC2-inline"]
    profile = iam.get_instance_profile(InstanceProfileName="S3ReadForEC2")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == ["S3ReadForEC2"]


def test_a_policy_only_the_gate_refuses_is_undone_and_the_retry_succeeds(lab_client):
    """A grammatical policy the gate still refuses (another account's ARN) fails after
    CreateRole: the role made a moment before is deleted again and the page says so."""
    other_account = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "iam:GetRole",
                    "Resource": "arn:aws:iam::111122223333:role/x",
                }
            ],
        }
    )
    response = _create_role(lab_client, **{"role_for_ec2-inline_policy": other_account})
    page = response.content.decode()
    assert "PutRolePolicy failed, so the calls before it were undone" in page
    assert "Nothing was created in your sandbox." in page
    for call in ("IAM CreateRole", "IAM AttachRolePolicy", "IAM PutRolePolicy"):
        assert call in page
    for undo in ("IAM DetachRolePolicy", "IAM DeleteRole"):
        assert undo in page
    _nothing_in(lab_client)
    assert 'data-testid="console-done"' in _create_role(lab_client).content.decode()


def test_an_invalid_trust_policy_is_refused_with_iams_words_before_any_call(lab_client):
    """IAM answers a trust policy that is not JSON with MalformedPolicyDocument "This policy
    contains invalid Json" (IAM API reference, CreateRole errors)."""
    response = _create_role(lab_client, **{"role_for_ec2-trust_policy": "{nope"})
    page = response.content.decode()
    assert "when calling the CreateRole operation: This policy contains invalid Json" in page
    assert "Nothing was created in your sandbox." in page
    assert "IAM CreateRole" not in page
    _nothing_in(lab_client)


def test_an_existing_role_name_is_blamed_on_the_role_name_field(lab_client):
    _create_role(lab_client)
    again = _create_role(lab_client).content.decode()
    assert "EntityAlreadyExists" in again
    name_group = again.split('for="id_role_for_ec2-role_name"', 1)[1].split("</div>", 2)
    assert "EntityAlreadyExists" in "".join(name_group[:2])
    assert "Nothing was created in your sandbox." in again


def test_without_htmx_the_message_names_the_field(lab_client):
    response = _create_role(
        lab_client, htmx=False, **{"role_for_ec2-inline_policy": '{"Statement": ['}
    )
    assert response.status_code == 302
    page = lab_client.get(response["Location"]).content.decode()
    assert "Inline policy (optional): IAM would refuse it" in page


def _trust(principal: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": principal}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def test_edit_trust_policy_shows_the_chosen_roles_current_document(lab_client):
    iam = _iam(lab_client)
    iam.create_role(RoleName="for-ec2", AssumeRolePolicyDocument=_trust("ec2.amazonaws.com"))
    iam.create_role(RoleName="for-lambda", AssumeRolePolicyDocument=_trust("lambda.amazonaws.com"))
    first = lab_client.get(f"{LAB}console/role_trust", **HTMX).content.decode()
    shown = re.search(r'<option value="([^"]+)" selected>', first)[1]  # the newest role
    service = {"for-ec2": "ec2.amazonaws.com", "for-lambda": "lambda.amazonaws.com"}[shown]
    assert service in first.split('name="role_trust-trust_policy"', 1)[1]
    for name, service, other in (
        ("for-ec2", "ec2.amazonaws.com", "lambda"),
        ("for-lambda", "lambda.amazonaws.com", "ec2"),
    ):
        chosen = lab_client.get(
            f"{LAB}console/role_trust?role_trust-role_name={name}", **HTMX
        ).content.decode()
        assert f'<option value="{name}" selected>' in chosen
        textarea = chosen.split('name="role_trust-trust_policy"', 1)[1].split("</textarea>")[0]
        assert service in textarea and other not in textarea
        assert f"The trust policy of {name} now." in chosen
    assert 'data-follow="role_name"' in chosen  # the page reloads the fields on a new choice

    # After an update the form still shows that role, with its new document.
    updated = lab_client.post(
        f"{LAB}console/role_trust",
        {"role_trust-role_name": "for-ec2", "role_trust-trust_policy": _trust("ecs.amazonaws.com")},
        **HTMX,
    ).content.decode()
    assert "Trust policy of for-ec2 updated." in updated
    assert '<option value="for-ec2" selected>' in updated
    assert "ecs.amazonaws.com" in updated.split('name="role_trust-trust_policy"', 1)[1]


def test_add_permissions_shows_what_the_chosen_role_has_attached(lab_client):
    iam = _iam(lab_client)
    iam.create_role(RoleName="bare", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.create_role(RoleName="busy", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.attach_role_policy(RoleName="busy", PolicyArn=S3_READ)
    iam.put_role_policy(RoleName="busy", PolicyName="list-it", PolicyDocument=GOOD_INLINE)
    busy = lab_client.get(
        f"{LAB}console/role_permissions?role_permissions-role_name=busy", **HTMX
    ).content.decode()
    current = busy.split('data-testid="console-current-role_permissions"', 1)[1].split("</div>")[0]
    assert "Attached to busy now" in current
    assert "Managed policy AmazonS3ReadOnlyAccess" in current
    assert "Inline policy list-it" in current
    assert "AmazonS3ReadOnlyAccess (attached)" in busy
    bare = lab_client.get(
        f"{LAB}console/role_permissions?role_permissions-role_name=bare", **HTMX
    ).content.decode()
    assert "bare has no permissions policy yet." in bare
    assert "(attached)" not in bare


def test_add_permissions_with_a_bad_inline_policy_attaches_nothing(lab_client):
    iam = _iam(lab_client)
    iam.create_role(RoleName="bare", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    response = lab_client.post(
        f"{LAB}console/role_permissions",
        {
            "role_permissions-role_name": "bare",
            "role_permissions-managed_policies": [S3_READ],
            "role_permissions-inline_policy": '{"Version": "2012-10-17", "Statement": []}',
        },
        **HTMX,
    ).content.decode()
    assert "IAM would refuse it" in response
    assert "Nothing was changed in your sandbox." in response
    assert iam.list_attached_role_policies(RoleName="bare")["AttachedPolicies"] == []


def test_the_launch_form_defaults_to_an_ami_its_default_type_runs(lab_client):
    """An AMI's architecture must be one the instance type supports (EC2 User Guide,
    "Instance types": processor architecture; DescribeInstanceTypes ProcessorInfo)."""
    fields = lab_client.get(f"{LAB}console/launch_instance", **HTMX).content.decode()
    chosen_type = re.search(
        r'name="launch_instance-instance_type"[^>]*>.*?<option value="([^"]+)" selected>',
        fields,
        re.DOTALL,
    )[1]
    chosen_image = re.search(
        r'name="launch_instance-image_id"[^>]*>.*?<option value="([^"]+)" selected>',
        fields,
        re.DOTALL,
    )[1]
    ec2 = aws_client("ec2", sandbox=_sandbox(lab_client))
    image = ec2.describe_images(ImageIds=[chosen_image])["Images"][0]
    kind = ec2.describe_instance_types(InstanceTypes=[chosen_type])["InstanceTypes"][0]
    assert image["Architecture"] in kind["ProcessorInfo"]["SupportedArchitectures"]

    # Launched as the form stands, EC2 accepts it.
    launched = lab_client.post(
        f"{LAB}console/launch_instance",
        {
            "launch_instance-instance_name": "web",
            "launch_instance-instance_type": chosen_type,
            "launch_instance-image_id": chosen_image,
            "launch_instance-profile": "",
        },
        **HTMX,
    ).content.decode()
    assert "launched with no profile" in launched


def test_a_mismatched_ami_and_type_is_refused_on_the_ami_field_before_any_call(lab_client):
    ec2 = aws_client("ec2", sandbox=_sandbox(lab_client))
    arm = next(
        i["ImageId"]
        for i in ec2.describe_images(Owners=["amazon"])["Images"]
        if i["Architecture"] == "arm64"
    )
    page = lab_client.post(
        f"{LAB}console/launch_instance",
        {
            "launch_instance-instance_type": "t3.micro",
            "launch_instance-image_id": arm,
            "launch_instance-profile": "",
        },
        **HTMX,
    ).content.decode()
    assert f"{arm} is an arm64 image and t3.micro runs x86_64 only" in page
    assert "EC2 RunInstances" not in page
    assert ec2.describe_instances()["Reservations"] == []


@pytest.mark.parametrize(
    ("form", "data"),
    [
        ("role_for_ec2", {}),
        ("role_for_ec2", {"role_for_ec2-role_name": "x" * 500, "role_for_ec2-trust_policy": "[]"}),
        ("role_for_ec2", {"role_for_ec2-role_name": "ok", "role_for_ec2-trust_policy": "[" * 5000}),
        ("role_for_ec2", {"role_for_ec2-role_name": "ok", "role_for_ec2-trust_policy": "\x00"}),
        ("role_trust", {"role_trust-role_name": "ghost", "role_trust-trust_policy": "{}"}),
        ("role_permissions", {"role_permissions-role_name": "ghost"}),
        ("role_permissions", {"role_permissions-managed_policies": ["arn:aws:iam::aws:policy/x"]}),
        ("launch_instance", {"launch_instance-image_id": "ami-nope"}),
        ("launch_instance", {"launch_instance-instance_type": "z9.huge"}),
        ("modify_instance_role", {"modify_instance_role-instance_id": "i-nope"}),
    ],
)
def test_bad_input_gets_errors_naming_the_field_never_a_500(lab_client, form, data):
    response = lab_client.post(f"{LAB}console/{form}", data, **HTMX)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was changed in your sandbox." in page or "Nothing was created" in page
    assert 'class="errorlist' in page
    # GET with a nonsense selection falls back to a real choice.
    assert lab_client.get(f"{LAB}console/{form}?{form}-role_name=%00", **HTMX).status_code == 200


def test_the_page_escapes_what_the_learner_typed(lab_client):
    typed = '<script>alert("x")</script>'
    page = _create_role(lab_client, **{"role_for_ec2-trust_policy": typed}).content.decode()
    assert typed not in page and escape(typed) in page
