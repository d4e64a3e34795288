"""Rewind: a learner takes their sandbox back to just before a step they reached, built from the
replay log with the same ids, and tries the step again; through the real lab page, console
forms, gate and sandbox server."""

import pytest

from learnlab.gate.client import aws_client
from learnlab.imds.models import InstanceCredentials
from learnlab.labs.catalog import lab_get
from learnlab.labs.models import StepResult
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox import connection
from learnlab.sandbox.models import Sandbox, SandboxCall
from learnlab.sandbox.services import sandbox_rebuild
from learnlab.terminal.services import shell_open, shell_run

pytestmark = pytest.mark.django_db

LAB = "/lab/instance-role/"
HTMX = {"HTTP_HX_REQUEST": "true"}
STEPS = {step.number: step for step in lab_get("instance-role").steps}
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
CREDENTIALS = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"


def check(client, number: int) -> bool:
    client.post(f"{LAB}steps/{STEPS[number].slug}/check", **HTMX)
    result = StepResult.objects.get(step=STEPS[number].slug)
    return result.passed


def built(sandbox) -> dict:
    """The ids a learner would compare: the role's, the profile's, the instances'."""
    iam, ec2 = aws_client("iam", sandbox=sandbox), aws_client("ec2", sandbox=sandbox)
    roles = {r["RoleName"]: r["RoleId"] for r in iam.list_roles()["Roles"]}
    profiles = {
        p["InstanceProfileName"]: (p["InstanceProfileId"], [r["RoleName"] for r in p["Roles"]])
        for p in iam.list_instance_profiles()["InstanceProfiles"]
    }
    reservations = ec2.describe_instances()["Reservations"]
    instances = {
        i["InstanceId"]: (i.get("IamInstanceProfile") or {}).get("Id")
        for r in reservations
        for i in r["Instances"]
    }
    return {"roles": roles, "profiles": profiles, "instances": instances}


@pytest.fixture
def learner(client, sandbox_server):
    """A learner on the lab page who did steps 1 to 3 the console way (Create role with S3 read,
    the profile it makes, Launch an instance with it), each checked."""
    assert client.get(LAB).status_code == 200
    sandbox = Sandbox.objects.get(learner_id=client.session["learner_id"])
    made = client.post(
        f"{LAB}console/role_for_ec2",
        {
            "role_for_ec2-role_name": "S3ReadForEC2",
            "role_for_ec2-trust_policy": EC2_TRUST_POLICY,
            "role_for_ec2-managed_policies": [S3_READ],
        },
        **HTMX,
    )
    assert made.status_code == 200 and "Role S3ReadForEC2 created" in made.content.decode()
    assert check(client, 1) and check(client, 2)
    image = "ami-0453ec754f44f9a4a"
    launched = client.post(
        f"{LAB}console/launch_instance",
        {
            "launch_instance-instance_type": "t3.micro",
            "launch_instance-image_id": image,
            "launch_instance-profile": "S3ReadForEC2",
        },
        **HTMX,
    )
    assert "launched with profile S3ReadForEC2" in launched.content.decode()
    assert check(client, 3)
    client.sandbox = sandbox
    return client


def rewind(client, step: int):
    return client.post(f"{LAB}reset", {"before": STEPS[step].slug}, follow=True)


def test_rewind_to_before_step_3_leaves_the_role_and_profile_with_their_ids_and_no_instance(
    learner,
):
    before = built(learner.sandbox)
    assert len(before["instances"]) == 1
    page = rewind(learner, 3)
    assert page.status_code == 200
    assert "just before step 3" in page.content.decode()
    after = built(learner.sandbox)
    assert after["roles"] == before["roles"]  # the same RoleId (AROA...)
    assert after["profiles"] == before["profiles"]  # the same InstanceProfileId, same role
    assert after["instances"] == {}
    # Steps 1 and 2 stay passed, step 3 is to do again, and passes again the same way.
    results = dict(StepResult.objects.values_list("step", "passed"))
    assert results == {STEPS[1].slug: True, STEPS[2].slug: True}
    assert not check(learner, 3)
    assert SandboxCall.objects.filter(sandbox=learner.sandbox, action="RunInstances").count() == 0


def test_rewind_to_before_step_5_keeps_the_instance_and_forgets_what_came_after(learner):
    """Steps 4 and 5 on the instance (connect, curl the metadata service, a call as the role),
    then rewind to before step 5: the instance and its profile association keep their ids and
    step 4's fetch still counts; step 5's call is forgotten."""
    shell = shell_open(sandbox=learner.sandbox)
    instance_id = next(iter(built(learner.sandbox)["instances"]))
    for line in (f"connect {instance_id}", f"curl -s {CREDENTIALS}S3ReadForEC2"):
        assert shell_run(shell=shell, line=line).exit_status == 0
    assert check(learner, 4)
    assert shell_run(shell=shell, line="aws sts get-caller-identity").exit_status == 0
    assert check(learner, 5)
    ec2 = aws_client("ec2", sandbox=learner.sandbox)
    association = ec2.describe_iam_instance_profile_associations()["IamInstanceProfileAssociations"]
    before = built(learner.sandbox)
    rewind(learner, 5)
    assert built(learner.sandbox) == before
    again = ec2.describe_iam_instance_profile_associations()["IamInstanceProfileAssociations"]
    assert [a["AssociationId"] for a in again] == [a["AssociationId"] for a in association]
    assert check(learner, 4)  # fetched before step 4 passed: still counts
    assert not check(learner, 5)  # the role's call came after: forgotten
    assert InstanceCredentials.objects.filter(sandbox=learner.sandbox).exists()


def test_a_rewound_sandbox_rebuilds_to_the_same_state_after_a_restart(learner):
    rewind(learner, 3)
    before = built(learner.sandbox)
    # As after a sandbox server restart: the account gone, rebuilt from the (trimmed) log.
    connection.account_drop(learner.sandbox.account_id)
    Sandbox.objects.filter(pk=learner.sandbox.pk).update(status=Sandbox.Status.LOST)
    learner.sandbox.refresh_from_db()
    sandbox_rebuild(sandbox=learner.sandbox)
    assert built(learner.sandbox) == before


def test_a_step_not_reached_cannot_be_rewound_to_and_says_why(client, sandbox_server):
    client.get(LAB)
    page = client.post(f"{LAB}reset", {"before": STEPS[4].slug}, follow=True)
    assert page.status_code == 200
    assert "You have not reached step 4" in page.content.decode()
    page = client.post(f"{LAB}reset", {"before": "no-such-step"}, follow=True)
    assert page.status_code == 200 and "no such step to rewind to" in page.content.decode()


def test_the_rewind_menu_lists_the_steps_reached(learner):
    page = learner.get(LAB).content.decode()
    assert 'data-testid="lab-rewind"' in page
    for number in (1, 2, 3, 4):  # step 3 passed, so step 4 is reached
        assert f'<option value="{STEPS[number].slug}"' in page
    assert f'<option value="{STEPS[5].slug}"' not in page
