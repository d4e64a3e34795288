"""Real Chromium: two of issue 15's walks where the lab must tell the truth.

1. The console's "Create role" with a valid trust policy and an invalid inline policy (bad JSON,
   then a grammar error IAM refuses) leaves nothing half-made: the page says nothing was created,
   the sandbox (read through the gate with boto3) has no role and no profile, and the corrected
   policy then succeeds on the first retry (no ``EntityAlreadyExists``); step 1's Check passes.
2. The learner's own terminal line from /sandbox/ brings a real bash, curl and the venv's AWS
   CLI into the browser's own sandbox: the role made there with ``file://`` documents passes
   step 1's Check in the same browser; the instance line then gets the role's credentials from
   the metadata service through botocore, and step 4's Check sees that fetch.
"""

import json
import os
import re
import subprocess

import pytest
from botocore.exceptions import ClientError
from playwright.sync_api import expect

from learnlab.gate.parsing import GATE_PREFIX
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox.models import Sandbox
from tests.conftest import VENV_BIN
from tests.e2e.axe import axe_violations
from tests.helpers import gate_client

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
READ_BUCKETS = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}
        ],
    }
)
# Valid JSON, but "Effect" is neither Allow nor Deny: IAM's grammar refuses it.
MAYBE_EFFECT = READ_BUCKETS.replace('"Allow"', '"Maybe"')
# Grammatical, but longer than IAM's quota for a role's inline policies (10,240 characters).
OVERSIZED = READ_BUCKETS.replace('"Effect"', '"Sid": "%s", "Effect"' % ("A" * 10_300))


def _errors(page) -> list[str]:
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def _check(page, number: int, outcome: str):
    page.get_by_role("button", name=f"Check step {number}").click()
    expect(page.get_by_test_id(f"check-{number}")).to_contain_text(outcome, timeout=15_000)


def _sandbox_has_nothing(iam) -> None:
    assert iam.list_roles()["Roles"] == []
    assert iam.list_instance_profiles()["InstanceProfiles"] == []
    with pytest.raises(ClientError) as missing:
        iam.get_role(RoleName="S3ReadForEC2")
    assert missing.value.response["Error"]["Code"] == "NoSuchEntity"


def test_a_bad_inline_policy_makes_nothing_and_the_fixed_one_succeeds_on_retry(
    live_server, sandbox_server, gate_url, page, fresh_cache
):
    """Follows the IAM User Guide's "Create a role to delegate permissions to an AWS service"
    (id_roles_create_for-service.html: the console makes the role, its policies and, for EC2,
    the same-named instance profile as one act), the IAM API Reference's PutRolePolicy (its
    MalformedPolicyDocument and LimitExceeded errors) and "IAM and AWS STS quotas"
    (reference_iam-quotas.html: a role's inline policies, 10,240 characters in all)."""
    errors = _errors(page)
    page.goto(live_server.url + "/lab/instance-role/")
    sandbox = Sandbox.objects.get()
    iam = gate_client(gate_url, sandbox, "iam")
    form = page.locator("#console-role_for_ec2")
    expect(form.get_by_label("Trust policy")).to_have_value(re.compile("ec2.amazonaws.com"))
    form.get_by_label("Role name").fill("S3ReadForEC2")

    for document in ('{"Version": "2012-10-17", "Statement": [', MAYBE_EFFECT):
        form.get_by_label("Inline policy (optional)").fill(document)
        form.get_by_role("button", name="Create role").click()
        outcome = form.get_by_test_id("console-outcome")
        expect(outcome).to_have_text(
            "Nothing was created in your sandbox. Fix what is marked and press Create role again."
        )
        # The refusal is said at the field that caused it, in IAM's words.
        expect(form).to_contain_text(
            "IAM would refuse it: An error occurred (MalformedPolicyDocument) when calling the "
            "PutRolePolicy operation: Syntax errors in policy."
        )
        expect(form).not_to_contain_text("What this did")  # no call was made
        # What was typed stays, so the learner fixes it rather than retyping it.
        expect(form.get_by_label("Role name")).to_have_value("S3ReadForEC2")
        expect(form.get_by_label("Inline policy (optional)")).to_have_value(document)
        _sandbox_has_nothing(iam)
        assert axe_violations(page) == []

    # Grammatical but over IAM's 10,240-character inline quota: only PutRolePolicy can say so,
    # after CreateRole succeeded, and the form takes the role back before it answers.
    form.get_by_label("Inline policy (optional)").fill(OVERSIZED)
    form.get_by_role("button", name="Create role").click()
    expect(form.get_by_test_id("console-outcome")).to_have_text(
        "PutRolePolicy failed, so the calls before it were undone (see below): Nothing was "
        "created in your sandbox. Fix what is marked and press Create role again."
    )
    expect(form.locator(".call-failed")).to_contain_text(
        "An error occurred (LimitExceeded) when calling the PutRolePolicy operation: Maximum "
        "policy size of 10240 bytes exceeded for role S3ReadForEC2"
    )
    expect(form.locator(".calls > li")).to_have_count(3)
    for call in ("CreateRole", "PutRolePolicy", "DeleteRole"):
        expect(form.locator(".calls")).to_contain_text(f"IAM {call}")
    _sandbox_has_nothing(iam)

    form.get_by_label("Inline policy (optional)").fill(READ_BUCKETS)
    form.get_by_role("button", name="Create role").click()
    expect(form.get_by_test_id("console-done")).to_contain_text(
        "Role S3ReadForEC2 created. The console also created instance profile S3ReadForEC2"
    )
    expect(form).not_to_contain_text("EntityAlreadyExists")
    expect(form.get_by_test_id("console-outcome")).to_have_count(0)
    for call in ("CreateRole", "PutRolePolicy", "CreateInstanceProfile"):
        expect(form.locator(".calls")).to_contain_text(f"IAM {call}")
    expect(form.locator(".call-failed")).to_have_count(0)

    role = iam.get_role(RoleName="S3ReadForEC2")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "ec2.amazonaws.com"
    }
    assert iam.list_role_policies(RoleName="S3ReadForEC2")["PolicyNames"] == ["S3ReadForEC2-inline"]
    profiles = iam.list_instance_profiles()["InstanceProfiles"]
    assert [(p["InstanceProfileName"], [r["RoleName"] for r in p["Roles"]]) for p in profiles] == [
        ("S3ReadForEC2", ["S3ReadForEC2"])
    ]
    _check(page, 1, "Passed.")
    expect(page.get_by_test_id("check-1")).to_contain_text(
        "Role S3ReadForEC2 trusts ec2.amazonaws.com"
    )
    assert axe_violations(page) == []
    assert errors == []


def _bash(script: str, home) -> subprocess.CompletedProcess:
    """The learner's own shell: bash, with the venv's aws and python first on PATH."""
    env = {"PATH": f"{VENV_BIN}:{os.environ['PATH']}", "HOME": str(home), "LANG": "C.UTF-8"}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result


# botocore's own credential chain, as any SDK on the instance would find credentials.
BOTOCORE_KEY = (
    "python -c 'import botocore.session as s; c = s.get_session().get_credentials(); "
    "print(c.method, c.get_frozen_credentials().access_key)'"
)


def test_the_own_terminal_line_works_in_the_browsers_sandbox_and_the_checks_see_it(
    live_server, sandbox_server, page, tmp_path, fresh_cache
):
    """Follows the IAM User Guide's "Use an IAM role to grant permissions to applications
    running on Amazon EC2 instances" (id_roles_use_switch-role-ec2.html: create-role with
    ``--assume-role-policy-document file://ec2-role-trust-policy.json``, attach-role-policy,
    create-instance-profile, add-role-to-instance-profile, run-instances
    ``--iam-instance-profile``), the AWS CLI User Guide's "Environment variables to configure the
    AWS CLI" (cli-configure-envvars.html: AWS_ENDPOINT_URL, AWS_EC2_METADATA_SERVICE_ENDPOINT)
    and botocore's credentials.py (InstanceMetadataProvider, method ``iam-role``)."""
    errors = _errors(page)
    page.goto(live_server.url + "/sandbox/")
    page.get_by_role("button", name="Make my terminal line").click()
    token_line = page.get_by_test_id("token-line")
    expect(token_line).to_contain_text("/sandbox/env?token=llsh_")
    expect(page.locator("#sandbox-panel")).to_contain_text("add &instance=i-… inside the quotes")
    account = page.get_by_test_id("account-id").text_content().strip()
    assert axe_violations(page) == []
    line = token_line.text_content().strip()
    url = re.fullmatch(r"""eval "\$\(curl -s '([^']+)'\)\"""", line).group(1)
    assert url.startswith(live_server.url + "/sandbox/env?token=llsh_")

    trust = tmp_path / "ec2-role-trust-policy.json"
    trust.write_text(json.dumps(json.loads(EC2_TRUST_POLICY), indent=2))
    made = _bash(
        f"eval \"$(curl -s '{url}')\"\n"
        'echo "$AWS_ENDPOINT_URL"\n'
        "aws sts get-caller-identity --query Account --output text\n"
        "aws iam create-role --role-name OwnShellRole "
        f"--assume-role-policy-document file://{trust} --query Role.RoleName --output text\n"
        f"aws iam attach-role-policy --role-name OwnShellRole --policy-arn {S3_READ}\n",
        tmp_path,
    )
    endpoint, caller_account, role_name = made.stdout.split()
    assert endpoint == live_server.url + GATE_PREFIX  # the live server's gate, over HTTP
    assert (caller_account, role_name) == (account, "OwnShellRole")  # the browser's sandbox

    page.goto(live_server.url + "/lab/instance-role/")
    _check(page, 1, "Passed.")
    expect(page.get_by_test_id("check-1")).to_contain_text(
        "Role OwnShellRole trusts ec2.amazonaws.com and carries"
    )

    launched = _bash(
        f"eval \"$(curl -s '{url}')\"\n"
        "aws iam create-instance-profile --instance-profile-name OwnShellRole > /dev/null\n"
        "aws iam add-role-to-instance-profile --instance-profile-name OwnShellRole "
        "--role-name OwnShellRole\n"
        "aws ec2 run-instances --image-id ami-0453ec754f44f9a4a --instance-type t3.micro "
        "--iam-instance-profile Name=OwnShellRole --query 'Instances[0].InstanceId' "
        "--output text\n",
        tmp_path,
    )
    instance_id = launched.stdout.strip()
    assert re.fullmatch(r"i-[0-9a-f]{17}", instance_id)
    page.reload()
    _check(page, 4, "Not yet.")  # launched, but nothing on the instance fetched credentials
    expect(page.get_by_test_id("check-4")).to_contain_text(
        f"Nothing on {instance_id} has fetched role OwnShellRole's credentials"
    )
    expect(page.get_by_test_id("check-3")).to_contain_text("Passed.")

    # The instance line, as the sandbox page said to form it.
    on_instance = _bash(
        f"eval \"$(curl -s '{url}&instance={instance_id}')\"\n"
        "aws sts get-caller-identity --query Arn --output text\n"
        f"{BOTOCORE_KEY}\n",
        tmp_path,
    )
    arn, method, key_id = on_instance.stdout.split()
    assert arn == f"arn:aws:sts::{account}:assumed-role/OwnShellRole/{instance_id}"
    assert method == "iam-role" and key_id.startswith("ASIA")

    page.goto(live_server.url + "/lab/instance-role/")
    _check(page, 4, "Passed.")
    result = page.get_by_test_id("check-4")
    expect(result).to_contain_text(
        f"You fetched role OwnShellRole's temporary credentials from {instance_id}'s metadata"
    )
    expect(result).to_contain_text(f"access key {key_id}")
    expect(page.locator("#lab-progress .is-passed")).to_have_count(4)
    assert axe_violations(page) == []
    assert errors == []
