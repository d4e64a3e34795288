# ruff: noqa: E501 - commands are typed verbatim, as the labs' CLI solutions give them
"""Real Chromium walks the three labs after the core one, the CLI way: every step typed into
the page's terminal as the lab's CLI solution gives it (with the learner's own instance id),
each step's Check red before it and green after it, in order, then the completion page. The
console way is ``test_more_labs_browser.py``, whose helpers these walks share."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.e2e import test_more_labs_browser as console_way
from tests.e2e.test_more_labs_browser import (
    KEYS,
    LEAST,
    SSRF,
    SWAP,
    check,
    finish,
    operator_passes_the_role,
    run,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
INSTANCE = re.compile(r"i-[0-9a-f]{17}")
open_lab = console_way.open_lab  # the same fixture: the lab page, its errors collected


def _instance(page, name: str) -> str:
    """The learner's instance by its Name tag, as a learner finds it."""
    run(
        page,
        f"aws ec2 describe-instances --filters Name=tag:Name,Values={name} --query "
        '"Reservations[0].Instances[0].InstanceId" --output text',
        INSTANCE,
    )
    text = page.locator("#terminal-log .terminal-entry").last.inner_text()
    return INSTANCE.findall(text)[-1]


def test_ssrf_lab_the_cli_way(open_lab):
    page = open_lab(SSRF)
    instance = _instance(page, "url-preview")
    check(page, 1, "Not yet.")
    run(page, f"connect {instance}", "as ec2-user")
    run(page, f"curl {KEYS}", "PreviewAppRole")
    run(page, f"curl {KEYS}PreviewAppRole", '"AccessKeyId" : "ASIA')
    check(page, 1)

    check(page, 2, "Not yet.")
    run(page, "exit", "exit")
    run(
        page,
        f"aws ec2 modify-instance-metadata-options --instance-id {instance} --http-tokens required",
        '"HttpTokens": "required"',
    )
    run(page, f"connect {instance}", "as ec2-user")
    run(page, f"curl {KEYS}PreviewAppRole", "401 - Unauthorized")
    run(page, "aws sts get-caller-identity", "assumed-role/PreviewAppRole")
    check(page, 2)

    check(page, 3, "Not yet.")
    run(page, "exit", "exit")
    run(
        page,
        f"aws ec2 modify-instance-metadata-options --instance-id {instance} --http-put-response-hop-limit 2 --http-tokens required",
        '"HttpPutResponseHopLimit": 2',
    )
    run(
        page,
        f'aws ec2 describe-instances --instance-ids {instance} --query "Reservations[].Instances[].MetadataOptions"',
        '"HttpTokens": "required"',
    )
    expect(page.locator("#terminal-log .terminal-entry").last).to_contain_text(
        '"HttpPutResponseHopLimit": 2'
    )
    check(page, 3)
    finish(page, SSRF, 3)
    assert page.errors == []


def _policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(action: str, resource: str) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def test_least_privilege_lab_the_cli_way(open_lab):
    """First tries written to a file and put with ``file://``: ListBucket on object ARNs (the
    app's listing fails, and the policy finding from AWS's action reference says why), then too
    loose (the check names the call still allowed); then the CLI solution's own line."""
    page = open_lab(LEAST)
    check(page, 1, "still allows 7 of 7 calls")
    run(page, "aws s3 ls", re.compile(r"app-\d{12}"))
    put = (
        "aws iam put-role-policy --role-name LogAppRole --policy-name LogAppRole-inline "
        "--policy-document file://policy.json && echo put"
    )
    wrong = _policy(
        _allow("s3:ListBucket", "arn:aws:s3:::app-*/*"),
        _allow("s3:GetObject", "arn:aws:s3:::app-*/reports/*"),
        _allow("s3:PutObject", "arn:aws:s3:::app-*/logs/*"),
    )
    run(page, f"echo '{wrong}' > policy.json && echo written", "written")
    run(page, put, "put")
    check(page, 1, "now fails: aws s3api list-objects-v2")
    expect(page.get_by_test_id("check-1")).to_contain_text(
        "LogAppRole-inline, statement 1: Resource arn:aws:s3:::app-*/* is an object ARN, but "
        "s3:ListBucket acts on accesspoint or bucket ARNs only"
    )
    loose = _policy(
        _allow("s3:ListBucket", "arn:aws:s3:::app-*"),
        _allow("s3:GetObject", "arn:aws:s3:::app-*/*"),
        _allow("s3:PutObject", "arn:aws:s3:::app-*/logs/*"),
    )
    run(page, f"echo '{loose}' > policy.json && echo written-again", "written-again")
    run(page, "cat policy.json", '"Resource": "arn:aws:s3:::app-*/*"')
    run(page, put, "put")
    check(page, 1, "still allows 1 of 7")
    expect(page.get_by_test_id("check-1")).to_contain_text("private/payroll.csv")
    expect(page.get_by_test_id("check-1")).not_to_contain_text("is an object ARN")
    least = _policy(
        _allow("s3:ListBucket", "arn:aws:s3:::app-*"),
        _allow("s3:GetObject", "arn:aws:s3:::app-*/reports/*"),
        _allow("s3:PutObject", "arn:aws:s3:::app-*/logs/*"),
    )
    run(
        page,
        f"aws iam put-role-policy --role-name LogAppRole --policy-name LogAppRole-inline --policy-document '{least}' && echo put-again",
        "put-again",
    )
    run(
        page,
        "aws iam get-role-policy --role-name LogAppRole --policy-name LogAppRole-inline",
        "arn:aws:s3:::app-*/reports/*",
    )
    check(page, 1)
    finish(page, LEAST, 1)
    assert page.errors == []


def test_swap_lab_the_cli_way(open_lab):
    page = open_lab(SWAP)
    instance = _instance(page, "swap-app")
    check(page, 1, "Not yet.")
    run(
        page,
        f'ASSOC=$(aws ec2 describe-iam-instance-profile-associations --filters Name=instance-id,Values={instance} --query "IamInstanceProfileAssociations[0].AssociationId" --output text)',
    )
    run(page, "echo $ASSOC", re.compile(r"iip-assoc-[0-9a-f]+"))
    run(
        page,
        "aws ec2 replace-iam-instance-profile-association --association-id $ASSOC --iam-instance-profile Name=AppRoleB",
        "instance-profile/AppRoleB",
    )
    check(page, 1, "See the switch from the instance")
    run(page, f"connect {instance}", "as ec2-user")
    run(page, f"curl {KEYS}AppRoleB", '"Code" : "Success"')
    check(page, 1)

    check(page, 2, "Not yet.")
    operator_passes_the_role(page, instance)
    finish(page, SWAP, 2)
    assert page.errors == []
