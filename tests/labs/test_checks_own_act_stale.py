"""A stored check result goes stale, and says so, when the sandbox changes under it: a call the
gate recorded (the learner's own CLI over HTTP here), or a reset of the sandbox."""

import html
import re

import pytest

from learnlab.gate.client import aws_client
from learnlab.labs.catalog import lab_get
from learnlab.labs.models import StepResult
from learnlab.labs.selectors import lab_progress
from learnlab.sandbox.models import Sandbox
from learnlab.sandbox.services import sandbox_reset
from tests.helpers import gate_client, launch_with_role

pytestmark = pytest.mark.django_db(transaction=True)  # the live server's thread records calls

HTMX = {"HTTP_HX_REQUEST": "true"}
LAB = "/lab/instance-role/"
STEPS = {step.number: step for step in lab_get("instance-role").steps}
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


@pytest.fixture
def learner(client, sandbox_server):
    """On the lab page with steps 1 to 3 done and checked."""
    assert client.get(LAB).status_code == 200
    sandbox = Sandbox.objects.get(learner_id=client.session["learner_id"])
    client.sandbox = sandbox
    client.instance_id = launch_with_role(sandbox, "app")
    aws_client("iam", sandbox=sandbox).attach_role_policy(RoleName="app", PolicyArn=S3_READ)
    response = client.post(f"{LAB}steps/{STEPS[3].slug}/check", **HTMX)
    assert "Passed." in response.content.decode()
    return client


def step_result(page: str, number: int) -> tuple[str, str]:
    """(the tag's attributes, its text) of step ``number``'s result on the lab page."""
    section = page.split(f'<section id="step-{number}"', 1)[1].split("</section>", 1)[0]
    match = re.search(r'(<p [^>]*data-testid="check-\d"[^>]*>)(.*?)</p>', section, re.S)
    assert match, section
    return match.group(1), html.unescape(re.sub(r"<[^>]+>", "", match.group(2))).strip()


def test_a_passed_step_goes_stale_after_the_learners_change_and_says_so(learner, gate_url):
    """The learner's own boto3 over HTTP detaches the profile (AWS's
    DisassociateIamInstanceProfile, docs.aws.amazon.com/AWSEC2/latest/APIReference/
    API_DisassociateIamInstanceProfile.html): step 3's stored pass is stale until checked."""
    page = learner.get(LAB).content.decode()
    attributes, text = step_result(page, 3)
    assert text.startswith("Passed.") and "data-check-stale" not in attributes

    ec2 = gate_client(gate_url, learner.sandbox, "ec2")
    association = ec2.describe_iam_instance_profile_associations()
    ec2.disassociate_iam_instance_profile(
        AssociationId=association["IamInstanceProfileAssociations"][0]["AssociationId"]
    )
    result = StepResult.objects.get(step=STEPS[3].slug)
    page = learner.get(LAB).content.decode()
    for number in (1, 2, 3):
        attributes, text = step_result(page, number)
        assert 'data-check-stale="true"' in attributes
        assert text.startswith(
            f"Stale: your sandbox changed since this was checked at "
            f"{result.checked_at:%H:%M:%S} UTC; check again."
        ), text
    # A stale pass still counts where progress is shown: it was true when checked.
    progress = learner.get(f"{LAB}progress", **HTMX).content.decode()
    assert progress.count('class="is-passed"') == 3

    checked = learner.post(f"{LAB}steps/{STEPS[3].slug}/check", **HTMX).content.decode()
    assert "Not yet." in checked and "without an instance profile" in checked
    page = learner.get(LAB).content.decode()
    assert "data-check-stale" not in page
    assert step_result(page, 3)[1].startswith("Not yet.")


def test_reads_do_not_make_results_stale(learner, gate_url):
    """Describe and List calls change nothing: the results stay fresh."""
    ec2 = gate_client(gate_url, learner.sandbox, "ec2")
    ec2.describe_instances()
    gate_client(gate_url, learner.sandbox, "iam").list_roles()
    assert "data-check-stale" not in learner.get(LAB).content.decode()


def test_a_reset_of_the_sandbox_makes_results_stale(learner):
    """ "Reset" on the Your sandbox page empties the sandbox but keeps the lab's results."""
    sandbox_reset(sandbox=learner.sandbox)
    attributes, text = step_result(learner.get(LAB).content.decode(), 1)
    assert 'data-check-stale="true"' in attributes and text.startswith("Stale:")


def test_staleness_costs_one_query(learner, django_assert_num_queries):
    learner_row = learner.sandbox.learner
    lab = lab_get("instance-role")
    with django_assert_num_queries(2):  # the results, and the sandbox's last change
        progress, _ = lab_progress(learner=learner_row, lab=lab)
    assert [p.passed for p in progress][:3] == [True, True, True]
    assert not any(p.stale for p in progress)


def test_the_last_change_of_many_sandboxes_is_one_query(
    learner, make_sandbox, django_assert_num_queries
):
    """For the classroom board: each learner's sandbox's last change, one query for all."""
    from learnlab.labs.selectors import sandboxes_changed_at

    other = make_sandbox()
    mine = learner.sandbox
    with django_assert_num_queries(1):
        changed = sandboxes_changed_at(learner_ids=[mine.learner_id, other.learner_id])
    last_call = mine.calls.order_by("-made_at").first().made_at
    assert changed == {mine.learner_id: last_call, other.learner_id: other.built_at}
