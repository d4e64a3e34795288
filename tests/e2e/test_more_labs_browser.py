"""Real Chromium walks the three labs after the core one: the console way through their forms
and the CLI way in the page's terminal, each on the lab's prepared state."""

import json

import pytest
from playwright.sync_api import expect

from tests.e2e.axe import axe_violations

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def open_lab(live_server, sandbox_server, page):
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))

    def go(slug: str, title: str):
        page.goto(f"{live_server.url}/lab/{slug}/")
        expect(page.get_by_role("heading", level=1)).to_have_text(title)
        expect(page.locator("#terminal-line")).to_be_visible()
        page.errors = errors
        return page

    return go


def _quiet(page, command: str, mark: str):
    """A line that prints nothing (an assignment): wait for an echo after it."""
    _type(page, f"{command} && echo {mark}", mark)


def _type(page, command: str, expected):
    line = page.locator("#terminal-line")
    line.click()
    line.fill(command)
    line.press("Enter")
    expect(page.locator("#terminal-log")).to_contain_text(expected, timeout=20_000)


def _check(page, number: int, outcome: str = "Passed."):
    page.get_by_role("button", name=f"Check step {number}").click()
    expect(page.get_by_test_id(f"check-{number}")).to_contain_text(outcome, timeout=20_000)


def _open(page, form: str):
    section = page.locator(f"#console-{form}")
    if section.get_attribute("open") is None:
        section.locator("summary").click()
    # A closed form fetches its fields when opened: wait for them.
    expect(
        section.locator(f"select[name='{form}-instance_id'], select[name='{form}-role_name']")
    ).to_be_visible()
    return section


def _choose_role(page, role: str):
    """Add permissions showing ``role``: choosing one fetches the form's fields again, so wait
    for that before typing into them."""
    form = _open(page, "role_permissions")
    select = form.get_by_label("Role")
    if select.input_value() != role:
        select.select_option(role)
        page.wait_for_load_state("networkidle")
    expect(form).to_contain_text(f"Attached to {role} now")
    return _open(page, "role_permissions")


KEYS = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"


def test_ssrf_lab_console_then_terminal(open_lab):
    page = open_lab("imdsv2-ssrf", "Stop an SSRF from stealing the role's keys")
    _check(page, 1, "Not yet.")
    preview = _open(page, "url_preview")
    instance = preview.get_by_label("Instance").input_value()
    assert instance.startswith("i-")
    # Another host is refused next to the field, and nothing is fetched.
    preview.get_by_label("URL to preview").fill("http://127.0.0.1:8000/")
    preview.get_by_role("button", name="Preview").click()
    expect(preview).to_contain_text("reaches only your own instance's metadata service")
    preview.get_by_label("URL to preview").fill(KEYS + "PreviewAppRole")
    preview.get_by_role("button", name="Preview").click()
    expect(preview.get_by_test_id("console-done")).to_contain_text(
        '"AccessKeyId" : "ASIA', timeout=20_000
    )
    _check(page, 1)

    options = _open(page, "metadata_options")
    options.get_by_label("Instance").select_option(instance)
    options.get_by_label("IMDSv2").select_option("required")
    options.get_by_role("button", name="Save").click()
    expect(options.get_by_test_id("console-done")).to_contain_text(
        "IMDSv2 required, hop limit 1", timeout=20_000
    )
    _check(page, 2, "try the attack again")
    preview = _open(page, "url_preview")
    preview.get_by_label("URL to preview").fill(KEYS + "PreviewAppRole")
    preview.get_by_role("button", name="Preview").click()
    expect(preview.get_by_test_id("console-done")).to_contain_text("HTTP 401", timeout=20_000)
    _type(page, f"connect {instance}", "as ec2-user")
    _type(page, "aws sts get-caller-identity", "assumed-role/PreviewAppRole")
    _check(page, 2)

    container = _open(page, "container_sdk")
    container.get_by_role("button", name="Run in container").click()
    expect(container.get_by_test_id("console-done")).to_contain_text(
        "no answer (timed out)", timeout=20_000
    )
    _check(page, 3, "hop limit is 1")
    _type(page, "exit", "exit")
    _type(page, "echo back-home", "[learner@workstation ~]$ echo back-home")
    _type(
        page,
        f"aws ec2 modify-instance-metadata-options --instance-id {instance} "
        "--http-put-response-hop-limit 2 --http-tokens required",
        '"HttpPutResponseHopLimit": 2',
    )
    container = _open(page, "container_sdk")
    container.get_by_role("button", name="Run in container").click()
    expect(container.get_by_test_id("console-done")).to_contain_text(
        "got credentials: ASIA", timeout=20_000
    )
    _check(page, 3)
    assert axe_violations(page) == []
    assert page.errors == []


def test_least_privilege_lab_console_way(open_lab):
    page = open_lab("least-privilege", "Tighten a role to least privilege")
    _check(page, 1, "still allows 7 of 7 calls")
    expect(page.get_by_test_id("check-1")).to_contain_text("privilege escalation")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::app-*"},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::app-*/*"},
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::app-*/logs/*"},
        ],
    }
    form = _choose_role(page, "LogAppRole")
    form.get_by_label("Inline policy (optional)").fill(json.dumps(policy))
    form.get_by_role("button", name="Add permissions").click()
    expect(form.get_by_test_id("console-done")).to_contain_text(
        "inline policy LogAppRole-inline", timeout=20_000
    )
    _check(page, 1, "still allows 1 of 7")
    expect(page.get_by_test_id("check-1")).to_contain_text("private/payroll.csv")
    policy["Statement"][1]["Resource"] = "arn:aws:s3:::app-*/reports/*"
    form = _choose_role(page, "LogAppRole")
    form.get_by_label("Inline policy (optional)").fill(json.dumps(policy))
    form.get_by_role("button", name="Add permissions").click()
    expect(form.get_by_test_id("console-done")).to_be_visible(timeout=20_000)
    _check(page, 1)
    assert page.errors == []


def test_swap_lab_console_then_the_operator_in_the_terminal(open_lab):
    page = open_lab("swap-and-pass-role", "Swap a running instance's role, and who may pass it")
    form = _open(page, "modify_instance_role")
    instance = form.locator("select[name='modify_instance_role-instance_id']").input_value()
    form.get_by_label("IAM instance profile").select_option("AppRoleB")
    form.get_by_role("button", name="Update IAM role").click()
    expect(form.get_by_test_id("console-done")).to_contain_text(
        "AppRoleB (replaced)", timeout=20_000
    )
    _check(page, 1, "See the switch from the instance")
    _type(page, f"connect {instance}", "as ec2-user")
    _type(page, f"curl {KEYS}", "AppRoleB")
    _type(page, f"curl {KEYS}AppRoleB", '"Code" : "Success"')
    _check(page, 1)

    _type(page, "exit", "exit")
    _type(page, "echo back-home", "[learner@workstation ~]$ echo back-home")
    _quiet(page, "LAB_KEY=$AWS_ACCESS_KEY_ID", "kept-key")
    _quiet(page, "LAB_SECRET=$AWS_SECRET_ACCESS_KEY", "kept-secret")
    _quiet(
        page,
        "SECRET=$(aws iam create-access-key --user-name operator "
        "--query AccessKey.SecretAccessKey --output text)",
        "made-key",
    )
    _quiet(
        page,
        'KEYID=$(aws iam list-access-keys --user-name operator --query "AccessKeyMetadata[0].'
        'AccessKeyId" --output text)',
        "found-key",
    )
    _quiet(page, "export AWS_ACCESS_KEY_ID=$KEYID AWS_SECRET_ACCESS_KEY=$SECRET", "as-operator")
    _type(page, "aws sts get-caller-identity", ":user/operator")
    association = (
        "ASSOC=$(aws ec2 describe-iam-instance-profile-associations --query "
        '"IamInstanceProfileAssociations[0].AssociationId" --output text)'
    )
    _quiet(page, association, "found-association")
    replace = (
        "aws ec2 replace-iam-instance-profile-association --association-id $ASSOC "
        "--iam-instance-profile Name=AppRoleA"
    )
    _type(page, replace, "not authorized to perform: iam:PassRole")
    _check(page, 2, "Now, as your lab user")
    _quiet(page, "export AWS_ACCESS_KEY_ID=$LAB_KEY AWS_SECRET_ACCESS_KEY=$LAB_SECRET", "as-lab")
    role = "arn:aws:iam::*:role/AppRoleA"
    pass_one = {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role}
    document = json.dumps({"Version": "2012-10-17", "Statement": [pass_one]})
    _quiet(
        page,
        f"aws iam put-user-policy --user-name operator --policy-name PassAppRoleA "
        f"--policy-document '{document}'",
        "policy-put",
    )
    _quiet(page, "export AWS_ACCESS_KEY_ID=$KEYID AWS_SECRET_ACCESS_KEY=$SECRET", "operator-again")
    _type(page, replace, "instance-profile/AppRoleA")
    _check(page, 2)
    assert page.errors == []
