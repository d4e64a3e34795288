from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Q

from learnlab.classroom.models import Classroom, Membership
from learnlab.labs.catalog import Lab, lab_get
from learnlab.labs.models import StepResult
from learnlab.labs.selectors import sandboxes_changed_at
from learnlab.learners.models import Learner
from learnlab.quiz.bank import EXAM_POINTS, load_bank
from learnlab.quiz.models import Answer

STUCK_AFTER = timedelta(minutes=10)  # on one step this long, or a failed last check
IDLE_AFTER = timedelta(minutes=5)
SORTS = {
    "name": "Name",
    "progress": "Least progress first",
    "stuck": "Longest on their step first",
    "idle": "Longest idle first",
}
FILTERS = {"all": "Everyone", "stuck": "Who is stuck", "idle": "Who is idle"}


def is_instructor(user) -> bool:
    from learnlab.classroom.services import INSTRUCTORS

    return bool(
        user.is_authenticated
        and (user.is_superuser or user.groups.filter(name=INSTRUCTORS).exists())
    )


def classroom_for_learner(*, learner: Learner | None) -> Classroom | None:
    """The open class this learner is in, if any."""
    if learner is None:
        return None
    membership = (
        Membership.objects.select_related("classroom")
        .filter(learner=learner, left_at=None, classroom__closed_at=None)
        .first()
    )
    return membership.classroom if membership else None


@dataclass(frozen=True)
class Cell:
    state: str  # "passed", "failed", "working", "todo"
    label: str
    reason: str = ""


PASSED, WORKING, TODO = (
    Cell("passed", "passed"),
    Cell("working", "working"),
    Cell("todo", "not started"),
)
# Still a pass (it was true when checked, as on the lab page), marked in words, not colour only
STALE = Cell(
    "passed",
    "passed (stale)",
    "Checked before their sandbox last changed: it may no longer hold until checked again.",
)


@dataclass
class Member:
    """The few fields of a membership the board needs (read as values: the board is hot)."""

    pk: int
    learner_id: object
    display_name: str
    joined_at: datetime
    last_used_at: datetime | None


@dataclass
class BoardRow:
    membership: Member
    cells: list[Cell]
    passed: int
    quiz_right: int
    quiz_total: int
    on_step_for: timedelta
    idle_for: timedelta
    stuck: bool = False

    @property
    def quiz_score(self) -> str:
        if not self.quiz_total:
            return "none"
        return f"{round(100 * self.quiz_right / self.quiz_total)}%"


@dataclass
class Board:
    lab: Lab
    rows: list[BoardRow]
    passed_per_step: list[int] = field(default_factory=list)


def _row(
    lab: Lab,
    membership: Member,
    results: dict,
    quiz: dict,
    now: datetime,
    changed_at: datetime | None = None,
) -> BoardRow:
    """One learner's cells: passes count up to their first step not passed (as on the lab
    page; rows stored before steps were checked in order may pass later steps), and a pass
    checked before their sandbox last changed (``changed_at``) is shown stale."""
    cells, passed, current = [], 0, None
    last_pass = membership.joined_at
    last_seen = membership.joined_at
    stuck = False
    for step in lab.steps:
        result = results.get((membership.learner_id, step.slug))
        if result is not None:
            last_seen = max(last_seen, result["checked_at"])
        if result is not None and result["passed"] and current is None:
            passed += 1
            last_pass = max(last_pass, result["passed_at"] or result["checked_at"])
            stale = changed_at is not None and result["checked_at"] < changed_at
            cells.append(STALE if stale else PASSED)
        elif current is None:
            current = step
            if result is not None:
                stuck = True
                cells.append(Cell("failed", "check failed", result["message"]))
            else:
                cells.append(WORKING)
        elif result is not None and result["passed"]:
            reason = (
                f"Passed before step {current.number}: counts once step {current.number} passes."
            )
            cells.append(Cell("todo", "not counted", reason))
        else:
            cells.append(TODO)
    if membership.last_used_at is not None:
        last_seen = max(last_seen, membership.last_used_at)
    on_step_for = now - last_pass if passed < len(lab.steps) else timedelta(0)
    right, total = quiz.get(membership.learner_id, (0, 0))
    return BoardRow(
        membership=membership,
        cells=cells,
        passed=passed,
        quiz_right=right,
        quiz_total=total,
        on_step_for=on_step_for,
        idle_for=now - last_seen,
        stuck=stuck or on_step_for >= STUCK_AFTER,
    )


def classroom_board(
    *, classroom: Classroom, now: datetime, sort: str = "name", show: str = "all"
) -> Board:
    """The live board in a fixed number of queries, whatever the class size."""
    lab = lab_get(classroom.lab)
    members = [
        Member(*values)
        for values in Membership.objects.filter(classroom=classroom, left_at=None).values_list(
            "pk", "learner_id", "display_name", "joined_at", "learner__sandbox__last_used_at"
        )
    ]
    # By learner id: a join through memberships would repeat rows per class a learner was in.
    learner_ids = [m.learner_id for m in members]
    results = {
        (r["learner_id"], r["step"]): r
        for r in StepResult.objects.filter(learner_id__in=learner_ids, lab=classroom.lab).values(
            "learner_id", "step", "passed", "message", "checked_at", "passed_at"
        )
    }
    quiz = {
        row["learner_id"]: (row["right"], row["total"])
        for row in Answer.objects.filter(learner_id__in=learner_ids)
        .values("learner_id")
        .annotate(total=Count("id"), right=Count("id", filter=Q(correct=True)))
    }
    changed_at = sandboxes_changed_at(learner_ids=learner_ids)
    rows = [_row(lab, m, results, quiz, now, changed_at.get(m.learner_id)) for m in members]
    passed_per_step = [
        sum(1 for row in rows if row.cells[i].state == "passed") for i in range(len(lab.steps))
    ]
    if show == "stuck":
        rows = [r for r in rows if r.stuck]
    elif show == "idle":
        rows = [r for r in rows if r.idle_for >= IDLE_AFTER]
    keys = {
        "name": lambda r: r.membership.display_name.lower(),
        "progress": lambda r: (r.passed, -r.on_step_for.total_seconds()),
        "stuck": lambda r: -r.on_step_for.total_seconds(),
        "idle": lambda r: -r.idle_for.total_seconds(),
    }
    rows.sort(key=keys.get(sort, keys["name"]))
    return Board(lab=lab, rows=rows, passed_per_step=passed_per_step)


def classroom_export_rows(*, classroom: Classroom) -> list[list[str]]:
    """The CSV: per learner, each step's result, attempts, pass time and minutes taken, then the
    quiz score per exam point."""
    lab = lab_get(classroom.lab)
    members = list(
        Membership.objects.filter(classroom=classroom)
        .select_related("learner")
        .order_by("display_name")
    )
    ids = [m.learner_id for m in members]
    results = {
        (r.learner_id, r.step): r
        for r in StepResult.objects.filter(learner_id__in=ids, lab=classroom.lab)
    }
    bank = load_bank()
    scores: dict = {}
    for learner_id, item_id, correct in Answer.objects.filter(learner_id__in=ids).values_list(
        "learner_id", "item_id", "correct"
    ):
        item = bank.get(item_id)
        if item is None:
            continue
        right, total = scores.get((learner_id, item.points[0]), (0, 0))
        scores[(learner_id, item.points[0])] = (right + correct, total + 1)
    header = ["name", "joined_at"]
    for step in lab.steps:
        prefix = f"step{step.number}"
        header += [f"{prefix}_result", f"{prefix}_attempts", f"{prefix}_passed_at",
                   f"{prefix}_minutes"]  # fmt: skip
    header += [f"quiz_{point}" for point in EXAM_POINTS]
    lines = [header]
    for membership in members:
        line = [membership.display_name, membership.joined_at.isoformat(timespec="seconds")]
        started = membership.joined_at
        for step in lab.steps:
            result = results.get((membership.learner_id, step.slug))
            if result is None:
                line += ["not started", "0", "", ""]
                continue
            passed_at = result.passed_at
            minutes = ""
            if passed_at is not None:
                minutes = f"{max(0.0, (passed_at - started).total_seconds() / 60):.1f}"
                started = max(started, passed_at)
            line += [
                "passed" if result.passed else "failed",
                str(result.attempts),
                passed_at.isoformat(timespec="seconds") if passed_at else "",
                minutes,
            ]
        for point in EXAM_POINTS:
            right, total = scores.get((membership.learner_id, point), (0, 0))
            line.append(f"{right}/{total}" if total else "")
        lines.append(line)
    return lines
