"""Real Chromium walks the three labs after the core one, the console way: every step through
its console forms, on the lab's prepared state, each step's Check green in order, then the
completion page. The CLI way of the same labs, typed into the page's terminal, is
``test_more_labs_cli_browser.py``; the helpers here are shared with it.

Where a lab's console way is documented as terminal lines (no form can do it), the walk types
those lines, as the lab's console solution says; each walk's docstring names them."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.axe import axe_violations

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SSRF = ("imdsv2-ssrf", "Stop an SSRF from stealing the role's keys")
LEAST = ("least-privilege", "Tighten a role to least privilege")
SWAP = ("swap-and-pass-role", "Swap a running instance's role, and who may pass it")
KEYS = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"


@pytest.fixture
def open_lab(live_server, sandbox_server, page):
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))

    def go(lab: tuple[str, str]):
        slug, title = lab
        page.goto(f"{live_server.url}/lab/{slug}/")
        expect(page.get_by_role("heading", level=1)).to_have_text(title)
        expect(page.locator("#terminal-line")).to_be_visible()
        page.errors = errors
        return page

    return go


def run(page, command: str, expected: str | re.Pattern | None = None):
    """Type a line as a learner does, press Enter, and wait for its own entry in the log (text
    an earlier line printed is no sign that this one ran); ``expected`` in that entry."""
    entries = page.locator("#terminal-log .terminal-entry")
    count = entries.count()
    line = page.locator("#terminal-line")
    line.click()
    line.fill(command)
    line.press("Enter")
    expect(entries).to_have_count(count + 1, timeout=20_000)
    expect(entries.last).to_contain_text(expected or command[:40], timeout=20_000)


def check(page, number: int, outcome: str = "Passed."):
    page.get_by_role("button", name=f"Check step {number}").click()
    expect(page.get_by_test_id(f"check-{number}")).to_contain_text(outcome, timeout=20_000)


def finish(page, lab: tuple[str, str], steps: int):
    """Every step green in the progress list; the last step's Finish link opens the lab's
    completion page, which lists each step as its check reports it."""
    expect(page.locator("#lab-progress .is-passed")).to_have_count(steps)
    for number in range(1, steps + 1):
        expect(page.get_by_test_id(f"check-{number}")).to_contain_text("Passed.")
    page.get_by_test_id(f"next-{steps}").get_by_role(
        "link", name="Finish: see what you built"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"You finished “{lab[1]}”")
    for number in range(1, steps + 1):
        built = page.get_by_test_id(f"built-{number}")
        expect(built).to_be_visible()
        expect(built).not_to_contain_text("(no message recorded)")


def open_form(page, form: str):
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
    form = open_form(page, "role_permissions")
    select = form.get_by_label("Role")
    if select.input_value() != role:
        select.select_option(role)
        page.wait_for_load_state("networkidle")
    expect(form).to_contain_text(f"Attached to {role} now")
    return open_form(page, "role_permissions")


def _preview(page, url: str, shown: str):
    preview = open_form(page, "url_preview")
    preview.get_by_label("URL to preview").fill(url)
    preview.get_by_role("button", name="Preview").click()
    expect(preview.get_by_test_id("console-done")).to_contain_text(shown, timeout=20_000)


def _metadata_options(page, instance: str, hop_limit: int):
    options = open_form(page, "metadata_options")
    options.get_by_label("Instance").select_option(instance)
    options.get_by_label("IMDSv2").select_option("required")
    options.get_by_label("Metadata response hop limit").fill(str(hop_limit))
    options.get_by_role("button", name="Save").click()
    expect(options.get_by_test_id("console-done")).to_contain_text(
        f"IMDSv2 required, hop limit {hop_limit}", timeout=20_000
    )


def _container(page, shown: str):
    container = open_form(page, "container_sdk")
    container.get_by_role("button", name="Run in container").click()
    expect(container.get_by_test_id("console-done")).to_contain_text(shown, timeout=20_000)


def test_ssrf_lab_the_console_way(open_lab):
    """Steps 1 and 3 entirely in forms (the URL preview app, Modify instance metadata options
    with its hop limit, the SDK in a container). Step 2's console solution ends in the terminal
    by design: ``connect`` and ``aws sts get-caller-identity`` on the instance show the SDK
    still works with tokens required (no form runs software on the instance)."""
    page = open_lab(SSRF)
    check(page, 1, "Not yet.")
    preview = open_form(page, "url_preview")
    instance = preview.get_by_label("Instance").input_value()
    assert instance.startswith("i-")
    # Another host is refused next to the field, and nothing is fetched.
    preview.get_by_label("URL to preview").fill("http://127.0.0.1:8000/")
    preview.get_by_role("button", name="Preview").click()
    expect(preview).to_contain_text("reaches only your own instance's metadata service")
    _preview(page, KEYS, "PreviewAppRole")
    _preview(page, KEYS + "PreviewAppRole", '"AccessKeyId" : "ASIA')
    check(page, 1)

    check(page, 2, "Not yet.")
    _metadata_options(page, instance, 1)
    check(page, 2, "try the attack again")
    _preview(page, KEYS + "PreviewAppRole", "HTTP 401")
    run(page, f"connect {instance}", "as ec2-user")
    run(page, "aws sts get-caller-identity", "assumed-role/PreviewAppRole")
    check(page, 2)

    _container(page, "no answer (timed out)")
    check(page, 3, "hop limit is 1")
    _metadata_options(page, instance, 2)  # the form under step 2, as step 3's solution says
    _container(page, "got credentials: ASIA")
    check(page, 3)
    assert axe_violations(page) == []
    finish(page, SSRF, 3)
    assert axe_violations(page) == []
    assert page.errors == []


def test_least_privilege_lab_the_console_way(open_lab):
    """One step, in the Add permissions form: too loose first (the check names the call still
    allowed), then least privilege."""
    page = open_lab(LEAST)
    check(page, 1, "still allows 7 of 7 calls")
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
    check(page, 1, "still allows 1 of 7")
    expect(page.get_by_test_id("check-1")).to_contain_text("private/payroll.csv")
    policy["Statement"][1]["Resource"] = "arn:aws:s3:::app-*/reports/*"
    form = _choose_role(page, "LogAppRole")
    form.get_by_label("Inline policy (optional)").fill(json.dumps(policy))
    form.get_by_role("button", name="Add permissions").click()
    expect(form.get_by_test_id("console-done")).to_be_visible(timeout=20_000)
    check(page, 1)
    finish(page, LEAST, 1)
    assert page.errors == []


def operator_passes_the_role(page, instance: str):
    """Swap step 2, as both of its solutions type it: the console forms act as the lab user
    only, so acting as ``operator`` happens in the terminal."""
    run(page, "exit", "exit")
    run(page, "echo back-home", "[learner@workstation ~]$ echo back-home")
    run(page, "LAB_KEY=$AWS_ACCESS_KEY_ID")
    run(page, "LAB_SECRET=$AWS_SECRET_ACCESS_KEY")
    run(
        page,
        "SECRET=$(aws iam create-access-key --user-name operator "
        "--query AccessKey.SecretAccessKey --output text)",
    )
    run(
        page,
        'KEYID=$(aws iam list-access-keys --user-name operator --query "AccessKeyMetadata[0].'
        'AccessKeyId" --output text)',
    )
    run(page, "export AWS_ACCESS_KEY_ID=$KEYID AWS_SECRET_ACCESS_KEY=$SECRET")
    run(page, "aws sts get-caller-identity", ":user/operator")
    run(
        page,
        "ASSOC=$(aws ec2 describe-iam-instance-profile-associations --filters "
        f"Name=instance-id,Values={instance} --query "
        '"IamInstanceProfileAssociations[0].AssociationId" --output text)',
    )
    replace = (
        "aws ec2 replace-iam-instance-profile-association --association-id $ASSOC "
        "--iam-instance-profile Name=AppRoleA"
    )
    run(page, replace, "not authorized to perform: iam:PassRole")
    check(page, 2, "Now, as your lab user")
    run(page, "export AWS_ACCESS_KEY_ID=$LAB_KEY AWS_SECRET_ACCESS_KEY=$LAB_SECRET")
    run(page, "aws sts get-caller-identity", ":user/")
    pass_one = {
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": "arn:aws:iam::*:role/AppRoleA",
    }
    document = json.dumps({"Version": "2012-10-17", "Statement": [pass_one]})
    run(
        page,
        "aws iam put-user-policy --user-name operator --policy-name PassAppRoleA "
        f"--policy-document '{document}' && echo policy-put",
        "policy-put",
    )
    run(page, "export AWS_ACCESS_KEY_ID=$KEYID AWS_SECRET_ACCESS_KEY=$SECRET")
    run(page, replace, "instance-profile/AppRoleA")
    check(page, 2)


def test_swap_lab_the_console_way(open_lab):
    """Step 1 in the Modify IAM role form, then (as its console solution says) ``connect`` and
    ``curl`` on the instance to see the switch. Step 2 has no form (the console forms act as
    the lab user, never as a second user): its console solution is the terminal lines, typed
    here."""
    page = open_lab(SWAP)
    check(page, 1, "Not yet.")
    form = open_form(page, "modify_instance_role")
    instance = form.locator("select[name='modify_instance_role-instance_id']").input_value()
    form.get_by_label("IAM instance profile").select_option("AppRoleB")
    form.get_by_role("button", name="Update IAM role").click()
    expect(form.get_by_test_id("console-done")).to_contain_text(
        "AppRoleB (replaced)", timeout=20_000
    )
    check(page, 1, "See the switch from the instance")
    run(page, f"connect {instance}", "as ec2-user")
    run(page, f"curl {KEYS}", "AppRoleB")
    run(page, f"curl {KEYS}AppRoleB", '"Code" : "Success"')
    check(page, 1)

    check(page, 2, "Not yet.")
    operator_passes_the_role(page, instance)
    finish(page, SWAP, 2)
    assert page.errors == []
