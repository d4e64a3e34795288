import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Q

from learnlab.classroom.models import Classroom, HintReveal, LearnerReset, Membership
from learnlab.labs.catalog import Lab, lab_get
from learnlab.labs.models import StepResult
from learnlab.labs.selectors import sandboxes_changed_at
from learnlab.labs.terminal_mistakes import TERMINAL
from learnlab.learners.models import Learner
from learnlab.quiz.bank import EXAM_POINTS, load_bank
from learnlab.quiz.models import Answer, LabMistake
from learnlab.terminal.selectors import shell_for_learner

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
    membership = membership_for_learner(learner=learner)
    return membership.classroom if membership and membership.classroom.is_open else None


def membership_for_learner(*, learner: Learner | None) -> Membership | None:
    """The learner's current membership: their open class, else the class they were last in
    when it closed (so their page can say it ended)."""
    if learner is None:
        return None
    return (
        Membership.objects.select_related("classroom")
        .filter(learner=learner, left_at=None)
        .order_by("classroom__closed_at", "-joined_at")  # open (NULL) first on both backends
        .first()
    )


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
    stuck_at: datetime | None = None
    stuck_step: int | None = None
    suffix: str = ""  # told apart from another learner with the same name

    @property
    def label(self) -> str:
        return f"{self.display_name} {self.suffix}" if self.suffix else self.display_name


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
    last_reset: dict | None = None

    @property
    def quiz_score(self) -> str:
        if not self.quiz_total:
            return "none"
        return f"{round(100 * self.quiz_right / self.quiz_total)}%"


@dataclass
class Mistake:
    """One kind of mistake across the class: how many learners made it, on which step."""

    step: object  # the lab's Step
    source: str  # "check", or "aws" (a console form's or the terminal's AWS error)
    text: str  # one learner's words for it, as an example
    learners: int
    total: int
    hint_open: bool

    @property
    def summary(self) -> str:
        return f"{self.learners} of {self.total}"


@dataclass
class Board:
    lab: Lab
    rows: list[BoardRow]
    labs: list[Lab] = field(default_factory=list)  # every lab the class runs, the main first
    passed_per_step: list[int] = field(default_factory=list)
    mistakes: list[Mistake] = field(default_factory=list)
    asking: int = 0  # learners who pressed "I'm stuck"


_QUOTED = re.compile("([\"'`\u2018\u201c])[^\"'`\u2019\u201d]{1,200}?([\"'`\u2019\u201d])")
# The learner's own names: the word after a kind of resource, or after a CLI name option.
_NAMED = re.compile(
    r"(?i)\b(role|profile|instance|user|group|policy|bucket|--[a-z-]*name)(\s+)"
    # not a word of the sentence, nor a kind itself ("Instance Profile <name>" names the profile)
    r"(?!(?:has|is|was|trusts|holds|does|in|on|of|for|to|a|an|the|that|with|no|not"
    r"|role|profile|instance|user|group|policy|bucket)\b)"
    r"[A-Za-z0-9+=,.@_-]+"
)
_IDS = re.compile(r"\b(arn:aws:\S+|i-[0-9a-f]{6,}|[A-Z]{4}[A-Z0-9]{12,}|\d{3,})\b")


def mistake_key(text: str) -> str:
    """A reason with the learner's own names and ids taken out, so two learners who made the
    same mistake with different role names count as one kind."""
    text = _QUOTED.sub("<name>", text)
    text = _NAMED.sub(lambda m: f"{m[1]}{m[2]}<name>", text)
    text = _IDS.sub("<id>", text)
    return " ".join(text.lower().split())[:200]


def classroom_mistakes(
    *, lab: Lab, classroom: Classroom, learner_ids: list, results: dict, limit: int = 8
) -> list[Mistake]:
    """The class's failed checks (latest per step, from ``results``) and AWS errors in console
    forms and the terminal (quiz's LabMistake rows, capped per learner), grouped by step and
    normalised reason, most learners first. One query besides ``results``."""
    steps = {step.slug: step for step in lab.steps}
    by_number = {step.number: step for step in lab.steps}
    groups: dict = defaultdict(lambda: {"learners": set(), "text": ""})
    for (learner_id, slug), result in results.items():
        if not result["passed"] and slug in steps and result["message"]:
            group = groups[(steps[slug].number, "check", mistake_key(result["message"]))]
            group["learners"].add(learner_id)
            group["text"] = group["text"] or result["message"]
    # AWS errors from console forms and from the terminal are one kind when AWS said the same.
    aws = LabMistake.objects.filter(
        learner_id__in=learner_ids,
        lab=lab.slug,
        source__in=(LabMistake.Source.CONSOLE, TERMINAL),
    ).values_list("learner_id", "step", "reason", "message")
    for learner_id, number, reason, message in aws:
        if number in by_number:
            group = groups[(number, "aws", f"{reason}: {mistake_key(message)}")]
            group["learners"].add(learner_id)
            group["text"] = group["text"] or f"{reason}: {message}"
    mistakes = [
        Mistake(
            step=by_number[number],
            source=source,
            text=group["text"],
            learners=len(group["learners"]),
            total=len(learner_ids),
            hint_open=by_number[number].slug in classroom.revealed_hints,
        )
        for (number, source, _key), group in groups.items()
    ]
    mistakes.sort(key=lambda m: (-m.learners, m.step.number, m.text))
    return mistakes[:limit]


def _suffixes(members: list) -> None:
    """Learners who share a display name get a short, stable suffix: #<membership id>."""
    counts: dict = defaultdict(int)
    for member in members:
        counts[member.display_name.casefold()] += 1
    for member in members:
        if counts[member.display_name.casefold()] > 1:
            member.suffix = f"#{member.pk}"


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
        stuck=stuck or on_step_for >= STUCK_AFTER or membership.stuck_at is not None,
    )


def classroom_labs(*, classroom: Classroom) -> list[Lab]:
    """The labs the class runs that the catalog still has, the main lab first."""
    return [lab for slug in classroom.lab_slugs if (lab := lab_get(slug)) is not None]


def classroom_lab(*, classroom: Classroom, slug: str | None) -> Lab:
    """One of the class's labs by slug; the main lab for no slug or one the class does not run."""
    labs = classroom_labs(classroom=classroom)
    return next((lab for lab in labs if lab.slug == slug), labs[0] if labs else None)


def classroom_board(
    *,
    classroom: Classroom,
    now: datetime,
    sort: str = "name",
    show: str = "all",
    lab_slug: str | None = None,
) -> Board:
    """The live board of one of the class's labs (``lab_slug``, default the main lab) in a
    fixed number of queries, whatever the class size."""
    lab = classroom_lab(classroom=classroom, slug=lab_slug)
    members = [
        Member(*values)
        for values in Membership.objects.filter(classroom=classroom, left_at=None).values_list(
            "pk",
            "learner_id",
            "display_name",
            "joined_at",
            "learner__sandbox__last_used_at",
            "stuck_at",
            "stuck_step",
        )
    ]
    _suffixes(members)
    # By learner id: a join through memberships would repeat rows per class a learner was in.
    learner_ids = [m.learner_id for m in members]
    results = {
        (r["learner_id"], r["step"]): r
        for r in StepResult.objects.filter(learner_id__in=learner_ids, lab=lab.slug).values(
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
    recent = now - timedelta(hours=1)
    last_resets = {
        r["membership_id"]: r
        for r in LearnerReset.objects.filter(membership__classroom=classroom, at__gte=recent)
        .order_by("at", "pk")
        .values("pk", "membership_id", "at", "by", "undone_at")
    }
    for row in rows:
        row.last_reset = last_resets.get(row.membership.pk)
    mistakes = classroom_mistakes(
        lab=lab, classroom=classroom, learner_ids=learner_ids, results=results
    )
    passed_per_step = [
        sum(1 for row in rows if row.cells[i].state == "passed") for i in range(len(lab.steps))
    ]
    if show == "stuck":
        rows = [r for r in rows if r.stuck]
    elif show == "idle":
        rows = [r for r in rows if r.idle_for >= IDLE_AFTER]
    keys = {
        "name": lambda r: (),
        "progress": lambda r: (r.passed, -_minutes(r.on_step_for)),
        "stuck": lambda r: (r.membership.stuck_at is None, -_minutes(r.on_step_for)),
        "idle": lambda r: -_minutes(r.idle_for),
    }
    key = keys.get(sort, keys["name"])
    # Whole minutes, then name, then membership: rows keep their place between refreshes
    # unless a learner's standing really changes.
    rows.sort(key=lambda r: (key(r), r.membership.display_name.casefold(), r.membership.pk))
    return Board(
        lab=lab,
        rows=rows,
        labs=classroom_labs(classroom=classroom),
        passed_per_step=passed_per_step,
        mistakes=mistakes,
        asking=sum(1 for m in members if m.stuck_at is not None),
    )


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


@dataclass
class LearnerLive:
    """What a learner's page shows of their class: the banner, clock, announcement, their
    instructor's reset, the hints opened, their "I'm stuck" state."""

    membership: Membership
    classroom: Classroom
    hints: list
    last_reset: LearnerReset | None
    labs: list = field(default_factory=list)  # the labs the class runs, the main first


def learner_live(*, learner: Learner | None, now: datetime) -> LearnerLive | None:
    """The learner's class state for their pages (three queries), None when not in a class."""
    membership = membership_for_learner(learner=learner)
    if membership is None:
        return None
    classroom = membership.classroom
    lab = lab_get(classroom.lab)
    hints = []
    for reveal in HintReveal.objects.filter(classroom=classroom).order_by("opened_at", "pk"):
        step = lab.step(reveal.step) if lab is not None else None
        if step is not None:
            reveal.step_number = step.number
            hints.append(reveal)
    last_reset = (
        LearnerReset.objects.filter(membership=membership, at__gte=now - timedelta(days=1))
        .order_by("-at", "-pk")
        .first()
    )
    return LearnerLive(
        membership, classroom, hints, last_reset, classroom_labs(classroom=classroom)
    )


@dataclass
class LearnerDetail:
    membership: Membership
    terminal: list  # the last few scrollback entries: prompt, command, output
    last_failed: StepResult | None
    mistakes: list
    resets: list


TERMINAL_ENTRIES = 8


def learner_detail(*, membership: Membership) -> LearnerDetail:
    """The instructor's read-only view of one learner: their last terminal lines, last failed
    check, the AWS errors they met, and the resets."""
    learner = membership.learner
    shell = shell_for_learner(learner=learner)
    entries = list(shell.scrollback[-TERMINAL_ENTRIES:]) if shell else []
    last_failed = (
        StepResult.objects.filter(learner=learner, lab=membership.classroom.lab, passed=False)
        .order_by("-checked_at")
        .first()
    )
    mistakes = list(
        LabMistake.objects.filter(learner=learner, lab=membership.classroom.lab).order_by("-at")[
            :10
        ]
    )
    resets = list(membership.resets.order_by("-at"))
    return LearnerDetail(membership, entries, last_failed, mistakes, resets)


def classroom_export_rows(*, classroom: Classroom, lab_slug: str | None = None) -> list[list[str]]:
    """The CSV of one of the class's labs (``lab_slug``, default the main lab): per learner,
    each step's result, attempts, pass time and minutes taken, then the quiz score per exam
    point."""
    lab = classroom_lab(classroom=classroom, slug=lab_slug)
    members = list(
        Membership.objects.filter(classroom=classroom)
        .select_related("learner")
        .order_by("display_name")
    )
    ids = [m.learner_id for m in members]
    results = {
        (r.learner_id, r.step): r
        for r in StepResult.objects.filter(learner_id__in=ids, lab=lab.slug)
    }
    before: dict = defaultdict(int)  # (learner, step) -> attempts before resets not undone
    reset_count: dict = defaultdict(int)
    for membership_id, history in LearnerReset.objects.filter(
        membership__classroom=classroom, undone_at=None
    ).values_list("membership_id", "history"):
        reset_count[membership_id] += 1
        for entry in history:
            before[(membership_id, entry["step"])] += entry["attempts"]
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
                   f"{prefix}_minutes", f"{prefix}_attempts_before_reset"]  # fmt: skip
    header += ["resets"]
    header += [f"quiz_{point}" for point in EXAM_POINTS]
    lines = [header]
    for membership in members:
        line = [membership.display_name, membership.joined_at.isoformat(timespec="seconds")]
        started = membership.joined_at
        for step in lab.steps:
            result = results.get((membership.learner_id, step.slug))
            earlier = str(before[(membership.pk, step.slug)])
            if result is None:
                line += ["not started", "0", "", "", earlier]
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
                earlier,
            ]
        line.append(str(reset_count[membership.pk]))
        for point in EXAM_POINTS:
            right, total = scores.get((membership.learner_id, point), (0, 0))
            line.append(f"{right}/{total}" if total else "")
        lines.append(line)
    return lines
