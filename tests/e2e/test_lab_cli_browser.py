# ruff: noqa: E501 - commands are typed verbatim, as AWS documents them
"""Real Chromium, the CLI way: typing AWS CLI commands into the page's terminal walks the lab."""

import re

import pytest
from playwright.sync_api import expect

from learnlab.lib.iam_policy import EC2_TRUST_POLICY

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TRUST = EC2_TRUST_POLICY  # typed inside single quotes


@pytest.fixture
def lab(live_server, sandbox_server, page):
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.goto(live_server.url + "/lab/instance-role/")
    expect(page.locator("#terminal-line")).to_be_visible()
    page.errors = errors
    return page


def _type(page, command: str, expected: str | re.Pattern):
    """Type a command as a learner does, press Enter, and wait for its own entry in the log
    (text an earlier command printed, such as the role's name, is no sign that this one ran)."""
    entries = page.locator("#terminal-log .terminal-entry")
    count = entries.count()
    line = page.locator("#terminal-line")
    line.click()
    line.fill(command)
    line.press("Enter")
    expect(entries).to_have_count(count + 1, timeout=15_000)
    expect(entries.last).to_contain_text(expected)


def _check(page, number: int, outcome: str = "Passed."):
    page.get_by_role("button", name=f"Check step {number}").click()
    expect(page.get_by_test_id(f"check-{number}")).to_contain_text(outcome, timeout=10_000)


def test_the_cli_way_walks_the_lab_from_an_empty_account_to_the_instance(lab):
    page = lab
    _type(
        page,
        f"aws iam create-role --role-name S3ReadForEC2 --assume-role-policy-document '{TRUST}'",
        '"RoleName": "S3ReadForEC2"',
    )
    _check(page, 1, "has no permissions policy")
    _type(
        page,
        "aws iam attach-role-policy --role-name S3ReadForEC2 --policy-arn arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess && echo attached",
        "attached",
    )
    _check(page, 1)
    _check(page, 2, "no instance profile yet")
    _type(
        page,
        "aws iam create-instance-profile --instance-profile-name S3ReadForEC2",
        '"InstanceProfileName": "S3ReadForEC2"',
    )
    _type(
        page,
        "aws iam add-role-to-instance-profile --instance-profile-name S3ReadForEC2 --role-name S3ReadForEC2 && echo added",
        "added",
    )
    _check(page, 2)

    # The role's name where the profile's belongs: AWS's own error, word for word.
    _type(
        page,
        "aws iam create-role --role-name OnlyARole --assume-role-policy-document "
        + f"'{TRUST}' --query Role.RoleName --output text",
        "OnlyARole",
    )
    _type(
        page,
        "aws ec2 run-instances --image-id ami-0453ec754f44f9a4a --instance-type t3.micro --iam-instance-profile Name=OnlyARole",
        "An error occurred (InvalidParameterValue) when calling the RunInstances operation",
    )
    _type(
        page,
        "ID=$(aws ec2 run-instances --image-id ami-0453ec754f44f9a4a --instance-type t3.micro --iam-instance-profile Name=S3ReadForEC2 --query 'Instances[0].InstanceId' --output text) && echo launched $ID",
        re.compile(r"launched i-[0-9a-f]+"),
    )
    _check(page, 3)

    # Steps 4 and 5 on the instance: curl the metadata, then the CLI with nothing configured.
    page.reload()
    page.locator("#step-4").get_by_role(
        "button", name=re.compile(r"^Connect the terminal to i-")
    ).click()
    expect(page.locator("#terminal-ps1")).to_contain_text("ec2-user@ip-")
    _type(
        page,
        'TOKEN=`curl -s -X PUT "http://169.254.169.254/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 21600"` && curl -s -H "X-aws-ec2-metadata-token: $TOKEN" http://169.254.169.254/latest/meta-data/iam/security-credentials/',
        "S3ReadForEC2",
    )
    _type(
        page,
        "curl -s http://169.254.169.254/latest/meta-data/iam/security-credentials/S3ReadForEC2",
        '"Type" : "AWS-HMAC"',
    )
    _check(page, 4)
    _type(page, "aws configure list", "iam-role")
    _type(
        page,
        "aws sts get-caller-identity --query Arn --output text",
        re.compile(r"assumed-role/S3ReadForEC2/i-[0-9a-f]+"),
    )
    _type(page, "aws iam list-users", "An error occurred (AccessDenied) when calling the ListUsers")
    _check(page, 5)
    expect(page.locator("#lab-progress .is-passed")).to_have_count(5)
    assert page.errors == []


def test_the_terminal_refuses_files_other_programs_and_other_accounts_in_words(lab):
    page = lab
    _type(
        page,
        "aws iam create-role --role-name x --assume-role-policy-document file:///etc/passwd",
        "file://",
    )
    _type(page, "cat /etc/passwd", "not available in this lab")
    _type(page, "bash -c id", "bash: command not available in this lab")
    _type(
        page,
        "aws iam get-policy --policy-arn arn:aws:iam::210987654321:policy/Other",
        "AccessDenied",
    )
    log = page.locator("#terminal-log").text_content()
    assert "root:x:0:0" not in log
