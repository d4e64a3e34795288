"""Red team R1: the identity-policy evaluator also runs for the lab's own in-process calls
(checks, console forms, pages), which act as the lab user. A learner who denies the lab user
everything must get the lab's pages and AWS's refusals, never a 500, and a reset must give the
lab user its rights back. Through Django's test client, the in-process gate and the real
sandbox server.

IAM User Guide, "Policy evaluation logic" (an explicit Deny in an identity-based policy
overrides any Allow, the lab user's "Action": "*" included)."""

import json

import pytest
from botocore.exceptions import ClientError

from learnlab.gate.client import aws_client
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox.models import LAB_USER_NAME, Sandbox

pytestmark = pytest.mark.django_db(transaction=True)

HTMX = {"HTTP_HX_REQUEST": "true"}
LAB = "/lab/instance-role/"
DENY_ALL = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
)


def _sandbox(client) -> Sandbox:
    return Sandbox.objects.get(learner_id=client.session["learner_id"])


def test_a_lab_user_that_denied_itself_everything_gets_pages_not_500s_and_reset_restores(
    client, sandbox_server, live_server
):
    """Attack: PutUserPolicy on the lab user with Deny "*". Held if: the lab page, a step
    check, a console form, the sandbox page and an instance page all answer below 500; the
    lab user's own calls are refused in AWS's words (AccessDenied, explicit deny); a reset
    leaves a lab user with full rights again."""
    assert client.get(LAB).status_code == 200
    iam = aws_client("iam", sandbox=_sandbox(client))
    iam.create_role(RoleName="web", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    ec2 = aws_client("ec2", sandbox=_sandbox(client))
    instance_id = ec2.run_instances(
        ImageId="ami-0453ec754f44f9a4a", InstanceType="t3.micro", MinCount=1, MaxCount=1
    )["Instances"][0]["InstanceId"]
    iam.put_user_policy(UserName=LAB_USER_NAME, PolicyName="lockout", PolicyDocument=DENY_ALL)
    with pytest.raises(ClientError) as refused:
        iam.list_roles()
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert refused.value.response["Error"]["Message"].endswith(
        "with an explicit deny in an identity-based policy"
    )
    answers = {
        "lab page": client.get(LAB),
        "step check": client.post(f"{LAB}steps/create-role/check", **HTMX),
        "console form": client.post(
            f"{LAB}console/role_for_ec2",
            {
                "role_for_ec2-role_name": "Another",
                "role_for_ec2-description": "",
                "role_for_ec2-trust_policy": EC2_TRUST_POLICY,
            },
            **HTMX,
        ),
        "sandbox page": client.get("/sandbox/"),
        "sandbox panel": client.get("/sandbox/panel"),
        "instance page": client.get(f"/sandbox/instances/{instance_id}/"),
    }
    for name, response in answers.items():
        assert response.status_code < 500, (name, response.status_code)
    assert client.post("/sandbox/reset").status_code == 302
    aws_client("iam", sandbox=_sandbox(client)).list_roles()
