"""Real Chromium: a learner who reached step 4 rewinds to just before step 3 from the lab page's
Rewind menu; the sandbox holds the same role and profile (same ids) and no instance, step 3 is
to do again, and doing it again passes. Then the labs index shows the lab's progress."""

import os

import pytest
from playwright.sync_api import expect

from learnlab.gate.client import aws_client
from learnlab.sandbox.models import Sandbox
from tests.e2e.axe import axe_violations

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LAB = "/lab/instance-role/"
ROLE = "S3ReadForEC2"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


def _check(page, number: int, outcome: str = "Passed."):
    page.get_by_role("button", name=f"Check step {number}").click()
    expect(page.get_by_test_id(f"check-{number}")).to_contain_text(outcome, timeout=15_000)


def _launch(page):
    """Launch an instance with the profile from the console form (opened if it is closed)."""
    launch = page.locator("#console-launch_instance")
    if launch.get_attribute("open") is None:
        launch.locator("summary").click()
    launch.locator("select[name='launch_instance-profile']").select_option(ROLE)
    launch.get_by_role("button", name="Launch instance").click()
    expect(launch).to_contain_text(f"with profile {ROLE}", timeout=15_000)


def _ids(sandbox) -> tuple:
    iam, ec2 = aws_client("iam", sandbox=sandbox), aws_client("ec2", sandbox=sandbox)
    role = iam.get_role(RoleName=ROLE)["Role"]["RoleId"]
    profile = iam.get_instance_profile(InstanceProfileName=ROLE)["InstanceProfile"]
    instances = [
        i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
    ]
    return role, profile["InstanceProfileId"], instances


def test_rewind_to_before_step_3_in_the_browser(live_server, sandbox_server, page):
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.goto(live_server.url + LAB)
    expect(page.locator("#terminal-line")).to_be_visible()
    assert page.get_by_test_id("lab-rewind").count() == 0  # nothing reached yet

    # Steps 1 to 3 the console way, each checked on the page.
    page.locator("#console-role_for_ec2 input[name='role_for_ec2-role_name']").fill(ROLE)
    page.locator(f"#console-role_for_ec2 input[value='{S3_READ}']").check()
    page.get_by_role("button", name="Create role").click()
    expect(page.locator("#console-role_for_ec2")).to_contain_text(f"Role {ROLE} created")
    _check(page, 1)
    _check(page, 2)
    _launch(page)
    _check(page, 3)
    sandbox = Sandbox.objects.get()
    role_id, profile_id, instances = _ids(sandbox)
    assert len(instances) == 1

    page.reload()
    rewind = page.get_by_test_id("lab-rewind")
    rewind.locator("summary").click()
    options = rewind.locator("option")
    expect(options).to_have_count(4)  # before steps 1 to 4: step 3 passed, so 4 is reached
    assert axe_violations(page) == []
    rewind.get_by_label("Rewind to just before").select_option(label="Step 3")
    rewind.get_by_role("button", name="Rewind").click()
    expect(page.locator("body")).to_contain_text("as it was just before step 3")
    assert _ids(sandbox) == (role_id, profile_id, [])
    expect(page.locator("#lab-progress li.is-current")).to_contain_text("Attach the profile")

    # Try step 3 again: it passes again, on the same role and profile.
    _check(page, 3, "no instance yet")
    _launch(page)
    _check(page, 3)
    assert _ids(sandbox)[:2] == (role_id, profile_id)

    page.goto(live_server.url + "/lab/")
    expect(page.get_by_test_id("lab-progress-instance-role")).to_contain_text(
        "3 of 6 steps passed. Continue at step 4"
    )
    assert errors == []


def test_the_lab_page_reloads_itself_when_its_file_changes_under_make_dev(
    live_server, sandbox_server, page, settings, monkeypatch, tmp_path
):
    """``make dev`` (DEBUG): the author edits the lab file; the open page shows the edit."""
    from learnlab.labs import catalog

    path = tmp_path / "instance-role.toml"
    path.write_text((catalog.LAB_DIR / "instance-role.toml").read_text())
    monkeypatch.setattr(catalog, "LAB_DIR", tmp_path)
    settings.DEBUG = True
    page.goto(live_server.url + LAB)
    expect(page.locator("h1")).to_have_text("Give an EC2 instance a role")
    path.write_text(path.read_text().replace("Give an EC2 instance a role", "Edited live", 1))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    expect(page.locator("h1")).to_have_text("Edited live", timeout=10_000)
