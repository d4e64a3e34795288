"""Steps 4 and 6 pass on the learner's own act, through the real lab page, gate, sandbox server
and metadata service: step 4 once the learner fetched the role's credentials from the instance's
metadata service (curl over HTTP, or the in-page terminal's curl), naming the set they fetched;
step 6 once they have seen two different access key ids for the instance (fetched, or shown on
the credentials page). The lab clock issuing or renewing a set proves nothing."""

import html
import json
import re
import subprocess
from datetime import timedelta

import pytest

from learnlab.gate.client import aws_client
from learnlab.imds.credentials import credentials_tick
from learnlab.imds.models import InstanceCredentials
from learnlab.imds.services import endpoint_for
from learnlab.labs.catalog import lab_get
from learnlab.labs.models import StepResult
from learnlab.sandbox.models import Sandbox
from tests.helpers import launch_with_role

pytestmark = pytest.mark.django_db(transaction=True)  # the live server's thread reads the rows

HTMX = {"HTTP_HX_REQUEST": "true"}
LAB = "/lab/instance-role/"
STEPS = {step.number: step for step in lab_get("instance-role").steps}
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
CREDENTIALS = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
CLOCK = re.compile(r"\d\d:\d\d:\d\d UTC")


@pytest.fixture
def learner(client, sandbox_server):
    """A learner on the lab page (their sandbox made by the first visit) with steps 1 to 3
    done: role ``app`` (EC2 trust, S3 read) in profile ``app`` on a running instance."""
    assert client.get(LAB).status_code == 200
    sandbox = Sandbox.objects.get(learner_id=client.session["learner_id"])
    instance_id = launch_with_role(sandbox, "app")
    aws_client("iam", sandbox=sandbox).attach_role_policy(RoleName="app", PolicyArn=S3_READ)
    client.sandbox, client.instance_id = sandbox, instance_id
    return client


def check(client, number: int) -> str:
    """Press Check on step ``number`` as the page does; the result as shown."""
    response = client.post(f"{LAB}steps/{STEPS[number].slug}/check", **HTMX)
    assert response.status_code == 200
    return response.content.decode()


def shown(page: str, number: int) -> str:
    """The text of step ``number``'s result in a Check's answer."""
    match = re.search(rf'data-testid="check-{number}"[^>]*>(.*?)</p>', page, re.S)
    assert match, page
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip()


@pytest.fixture
def curl(live_server, learner):
    """Real curl over HTTP against the instance's metadata service, as a learner's own shell
    on the instance would (``AWS_EC2_METADATA_SERVICE_ENDPOINT``); returns the JSON."""
    endpoint = endpoint_for(sandbox=learner.sandbox, instance_id=learner.instance_id)
    url = f"{live_server.url}/imds/{endpoint.token}/latest/meta-data/iam/security-credentials/app"

    def fetch() -> dict:
        result = subprocess.run(
            ["curl", "-s", "-f", url], capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        assert document["Code"] == "Success", document
        return document

    return fetch


def test_step_4_is_red_after_launch_and_the_clocks_issue_green_after_a_real_curl(learner, curl):
    """Follows AWS's "Retrieve security credentials from instance metadata"
    (docs.aws.amazon.com/AWSEC2/latest/UserGuide/instance-metadata-security-credentials.html):
    the learner's application, here curl, gets the role's credentials from
    http://169.254.169.254/latest/meta-data/iam/security-credentials/role-name."""
    assert "Passed." in check(learner, 3)
    credentials_tick()  # the clock's first issue, as the task cluster makes it after launch
    assert InstanceCredentials.objects.filter(instance_id=learner.instance_id).exists()

    before = shown(check(learner, 4), 4)
    assert before.startswith("Not yet."), before
    assert f"Run curl {CREDENTIALS}app on the instance" in before
    assert f"connect {learner.instance_id}" in before

    document = curl()
    after = shown(check(learner, 4), 4)
    assert after.startswith("Passed."), after
    assert f"access key {document['AccessKeyId']}" in after
    fetched = InstanceCredentials.objects.get(access_key__access_key_id=document["AccessKeyId"])
    assert f"at {fetched.fetched_at:%H:%M:%S} UTC" in after


def test_step_4_names_the_set_the_learner_fetched_not_the_clocks_first(learner, curl):
    """The set reported is the one the metadata service handed the learner (AWS's document for
    the role: AccessKeyId, Token, Expiration), here the clock's second, not its first."""
    credentials_tick()
    first = InstanceCredentials.objects.get(instance_id=learner.instance_id)
    renew(first)  # renewed before any fetch
    document = curl()
    assert document["AccessKeyId"] != first.access_key.access_key_id
    result = shown(check(learner, 4), 4)
    assert result.startswith("Passed.") and document["AccessKeyId"] in result
    assert first.access_key.access_key_id not in result


def test_step_4_passes_after_the_in_page_terminals_curl(learner):
    """The in-page terminal's curl, as AWS's IMDSv2 walkthrough types it (PUT a token, then
    GET with X-aws-ec2-metadata-token), is the learner's own act too."""
    credentials_tick()
    assert shown(check(learner, 4), 4).startswith("Not yet.")

    def run(line: str) -> str:
        response = learner.post("/terminal/run", {"line": line}, **HTMX)
        assert response.status_code == 200
        return response.content.decode()

    assert "ec2-user@ip-" in run(f"connect {learner.instance_id}")
    output = run(
        'TOKEN=`curl -s -X PUT "http://169.254.169.254/latest/api/token" '
        '-H "X-aws-ec2-metadata-token-ttl-seconds: 21600"` && '
        f'curl -s -H "X-aws-ec2-metadata-token: $TOKEN" {CREDENTIALS}app'
    )
    key_id = re.search(r"&quot;AccessKeyId&quot; : &quot;(ASIA\w+)&quot;", output).group(1)
    result = shown(check(learner, 4), 4)
    assert result.startswith("Passed.") and f"access key {key_id}" in result


def renew(credentials: InstanceCredentials) -> None:
    """The clock's tick just after the set's renewal time (the task cluster's work, run here at
    that moment): a new set is issued, the old one stays valid."""
    credentials_tick(now=credentials.renew_at + timedelta(seconds=1))
    assert InstanceCredentials.objects.filter(
        instance_id=credentials.instance_id, issued_at__gt=credentials.issued_at
    ).exists()


def _use(aws, document: dict) -> None:
    """Step 5: a call made with the fetched role credentials (the real AWS CLI)."""
    aws(
        "sts",
        "get-caller-identity",
        key_id=document["AccessKeyId"],
        secret=document["SecretAccessKey"],
        token=document["Token"],
        check=True,
    )


def test_step_6_is_red_with_one_key_id_and_green_after_two_fetched(learner, curl, aws):
    """Follows AWS's "IAM roles for Amazon EC2" (docs.aws.amazon.com/AWSEC2/latest/UserGuide/
    iam-roles-for-amazon-ec2.html#instance-metadata-security-credentials): "We make new
    credentials available at least five minutes before the expiration of the old credentials",
    so an application that re-reads the metadata gets a new AccessKeyId."""
    first = curl()
    _use(aws, first)
    assert "Passed." in check(learner, 5)

    one = shown(check(learner, 6), 6)
    assert one.startswith("Not yet.") and "No renewal yet" in one
    current = InstanceCredentials.objects.get(access_key__access_key_id=first["AccessKeyId"])

    renew(current)  # the clock renews: not seen yet, so time alone does not pass the step
    renewed = shown(check(learner, 6), 6)
    assert renewed.startswith("Not yet.") and "Fetch again now" in renewed

    # With one set seen, the result named it and said when and how to see the next.
    assert first["AccessKeyId"] in one
    assert f"/sandbox/instances/{learner.instance_id}/" in one
    due = f"{current.renew_at:%H:%M:%S} UTC"
    assert f"wait for the next renewal at {due}" in one and f"fetch again after {due}" in one

    second = curl()
    assert second["AccessKeyId"] != first["AccessKeyId"]
    result = shown(check(learner, 6), 6)
    assert result.startswith("Passed."), result
    assert first["AccessKeyId"] in result and second["AccessKeyId"] in result
    assert "still valid" in result
    assert StepResult.objects.get(step=STEPS[6].slug).passed


def test_step_6_counts_a_set_shown_on_the_credentials_page(learner, curl, aws):
    """The second key id may be the one the instance's credentials page showed the learner
    (``shown_at``), as the AWS console has no such page: LearnLab's lesson page for
    the renewal AWS documents in "IAM roles for Amazon EC2"."""
    first = curl()
    _use(aws, first)
    renew(InstanceCredentials.objects.get(access_key__access_key_id=first["AccessKeyId"]))
    assert shown(check(learner, 6), 6).startswith("Not yet.")
    page = learner.get(f"/sandbox/instances/{learner.instance_id}/")
    assert page.status_code == 200
    newest = InstanceCredentials.objects.filter(instance_id=learner.instance_id).latest("issued_at")
    assert newest.access_key.access_key_id in page.content.decode()
    result = shown(check(learner, 6), 6)
    assert result.startswith("Passed."), result
    assert newest.access_key.access_key_id in result and first["AccessKeyId"] in result
