"""The live board counts a learner's passes as the lab page does: in order, up to their first
step not passed, and shows a pass checked before their sandbox last changed as stale."""

from django.utils import timezone

from learnlab.gate.client import aws_client
from learnlab.labs.catalog import lab_get
from learnlab.labs.models import StepResult
from learnlab.lib.iam_policy import EC2_TRUST_POLICY
from learnlab.sandbox.models import Sandbox
from learnlab.sandbox.services import sandbox_reset

HTMX = {"HTTP_HX_REQUEST": "true"}
STEPS = lab_get("instance-role").steps
S3_READ_ONLY = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


def _grid(instructor, classroom) -> str:
    return instructor.get(f"/class/teach/{classroom.code}/grid", **HTMX).content.decode()


def _row(grid: str, name: str) -> str:
    return grid.split(f'data-testid="row-{name}"', 1)[1].split("</tr>", 1)[0]


def test_a_pass_stored_after_a_step_not_passed_does_not_count(instructor, classroom, join):
    grace = join(classroom, "Grace")
    now = timezone.now()
    for step in (STEPS[0], STEPS[2]):  # rows stored before steps were checked in order
        StepResult.objects.create(
            learner_id=grace.session["learner_id"],
            lab="instance-role",
            step=step.slug,
            passed=True,
            message="Passed.",
            checked_at=now,
            passed_at=now,
        )

    grid = _grid(instructor, classroom)
    assert 'data-testid="passed-1">1<' in grid
    assert 'data-testid="passed-3">0<' in grid
    row = _row(grid, "Grace")
    assert row.count('class="cell cell-passed"') == 1
    assert "not counted" in row and "counts once step 2 passes" in row


def test_a_pass_checked_before_the_sandbox_changed_is_shown_stale(instructor, classroom, join):
    grace = join(classroom, "Grace")
    sandbox = Sandbox.objects.get(learner_id=grace.session["learner_id"])
    iam = aws_client("iam", sandbox=sandbox)
    iam.create_role(RoleName="web", AssumeRolePolicyDocument=EC2_TRUST_POLICY)
    iam.attach_role_policy(RoleName="web", PolicyArn=S3_READ_ONLY)
    assert (
        "Passed."
        in grace.post(f"/lab/instance-role/steps/{STEPS[0].slug}/check", **HTMX).content.decode()
    )

    fresh = _row(_grid(instructor, classroom), "Grace")
    assert "passed (stale)" not in fresh and "cell-passed" in fresh

    sandbox_reset(sandbox=sandbox)
    grid = _grid(instructor, classroom)
    assert "passed (stale)" in _row(grid, "Grace")
    assert "Checked before their sandbox last changed" in _row(grid, "Grace")
    assert 'data-testid="passed-1">1<' in grid  # still a pass, as on the lab page
