"""Every lab tests itself: each way's machine-runnable solution (``cli_run``, ``console_run``)
run step by step on a fresh sandbox, with the real parts a learner uses (the in-page terminal's
interpreter, the console forms, the gate, the sandbox server, the metadata service), and each
check asked before and after (docs/authoring.md, section 7).

For each way (``cli``, ``console``), on its own fresh sandbox with the lab's setup made:

1. every check is red on the fresh sandbox (negative control);
2. before a step's solution runs, its check is red (negative control; not asked for a way whose
   list is empty for the step: an earlier step of that way did its work);
3. after it runs, the step's check and every earlier one are green.

A disagreement is a ``Problem`` naming the file, the way, the step and what happened.
"""

import contextlib
from dataclasses import dataclass, field

from django.utils import timezone

from learnlab.imds.credentials import credentials_renew
from learnlab.imds.models import InstanceCredentials
from learnlab.labs.catalog import RUNS, WAYS, Lab, RunEntry, Step
from learnlab.labs.checks import CheckResult, SandboxView
from learnlab.labs.console import FORMS, CallFailed, Recorder
from learnlab.labs.prepared import SetupFailed, lab_prepare
from learnlab.labs.services import check_run, step_check, steps_check
from learnlab.learners.models import Learner
from learnlab.sandbox import connection
from learnlab.sandbox.models import Sandbox
from learnlab.sandbox.services import sandbox_drop, sandbox_provision
from learnlab.terminal.services import shell_open, shell_run

OUTPUT_SHOWN = 600  # characters of a failing line's output a problem quotes


@dataclass
class Row:
    """One step of one way: what each control and the solution gave."""

    way: str
    step: Step
    empty_red: bool  # the check was red on the fresh sandbox
    before_red: bool | None  # red just before the step's solution (None: not asked)
    green: bool | None  # green after it (None: the solution did not run to the end)
    message: str = ""  # the check's last message

    @property
    def ok(self) -> bool:
        return self.empty_red and self.before_red is not False and bool(self.green)


@dataclass
class Problem:
    way: str
    step: int  # 0: the lab as a whole (its setup)
    text: str


@dataclass
class Report:
    lab: Lab
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    learners: dict = field(default_factory=dict)  # way -> its learner, when kept

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def where(self) -> str:
        return self.lab.path.name if self.lab.path else f"{self.lab.slug}.toml"

    def problem_lines(self) -> list[str]:
        said = []
        for problem in self.problems:
            step = f", step {problem.step}" if problem.step else ""
            said.append(f"{self.where}{step} ({problem.way} way): {problem.text}")
        return said

    def table(self) -> str:
        """One line per (way, step): the controls and the result, then the problems."""

        def mark(value) -> str:
            return {True: "ok", False: "FAIL", None: "-"}[value]

        header = ("way", "step", "red when empty", "red before", "green after")
        lines = [header]
        for row in self.rows:
            before = "-" if row.before_red is None else mark(row.before_red)
            lines.append(
                (
                    row.way,
                    f"{row.step.number} {row.step.slug}",
                    mark(row.empty_red),
                    before,
                    mark(row.green),
                )
            )
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        text = [
            "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines
        ]
        text.append("")
        text += self.problem_lines() or [f"{self.where}: every step passes both ways"]
        return "\n".join(text)


class _Stop(Exception):
    """The way cannot go on (a step's solution failed); the problem is already recorded."""


class _Run:
    """One way of one lab on one fresh sandbox."""

    def __init__(self, lab: Lab, way: str, report: Report, sandbox: Sandbox):
        self.lab, self.way, self.report, self.sandbox = lab, way, report, sandbox
        self.learner = sandbox.learner
        self.shell = shell_open(sandbox=sandbox)
        self.facts: dict = {}

    def problem(self, step: int, text: str) -> None:
        self.report.problems.append(Problem(self.way, step, text))

    def check(self, step: Step) -> CheckResult:
        outcome = check_run(view=SandboxView(self.sandbox), step=step)
        self.facts |= {k: v for k, v in outcome.facts.items() if v}
        return outcome

    def run(self) -> None:
        try:
            lab_prepare(sandbox=self.sandbox, lab=self.lab)
        except SetupFailed as error:
            self.problem(0, str(error))
            return
        empty = {step.number: self.check(step) for step in self.lab.steps}
        for step in self.lab.steps:
            if empty[step.number].passed:
                self.problem(
                    step.number,
                    f"check {step.check} passes on a fresh sandbox (with the lab's setup), "
                    f"before anything was done: {empty[step.number].message}",
                )
        for step in self.lab.steps:
            row = Row(
                self.way, step, empty_red=not empty[step.number].passed, before_red=None, green=None
            )
            self.report.rows.append(row)
            try:
                self.step(step, row)
            except _Stop:
                return

    def step(self, step: Step, row: Row) -> None:
        entries = step.runs.get(self.way)
        if entries is None:
            self.problem(
                step.number,
                f"no {RUNS[self.way]}: write the step's {self.way} solution as entries the "
                f"self-test can run (docs/authoring.md, section 6)",
            )
            raise _Stop
        if entries:
            before = self.check(step)
            row.before_red = not before.passed
            if before.passed:
                self.problem(
                    step.number,
                    f"check {step.check} passes before the step's solution ran (negative "
                    f"control): {before.message}",
                )
        for number, entry in enumerate(entries, 1):
            failed = self.entry(step, entry)
            if failed:
                self.problem(
                    step.number, f"{RUNS[self.way]} entry {number} ({entry.said}): {failed}"
                )
                raise _Stop
        # The steps before it and the step itself, on the same reads (the facts feed the
        # next step's example values), then the learner's Check, stored as the page stores it.
        for _, outcome in steps_check(view=SandboxView(self.sandbox), lab=self.lab, step=step):
            self.facts |= {k: v for k, v in outcome.facts.items() if v}
        result = step_check(learner=self.learner, sandbox=self.sandbox, lab=self.lab, step=step)
        row.green, row.message = result.passed, result.message
        if not result.passed:
            self.problem(
                step.number,
                f"check {step.check} stays red after the step's {self.way} solution ran: "
                f"{result.message}",
            )
            raise _Stop

    def _own(self, text: str) -> str:
        """The example values (``[examples]``) replaced by this sandbox's own."""
        for fact, example in self.lab.examples.items():
            if self.facts.get(fact):
                text = text.replace(example, str(self.facts[fact]))
        return text

    def entry(self, step: Step, entry: RunEntry) -> str:
        """Run one entry; what went wrong, or "" when it worked."""
        if entry.wait:
            return self.renewal()
        if entry.form:
            return self.form(entry)
        line = self._own(entry.line)
        self.shell.refresh_from_db()
        result = shell_run(shell=self.shell, line=line)
        if result.exit_status != 0:
            output = result.output.strip()[:OUTPUT_SHOWN]
            return f"the terminal line exited {result.exit_status}: {output}"
        return ""

    def form(self, entry: RunEntry) -> str:
        form_class = FORMS[entry.form]
        view = SandboxView(self.sandbox)
        shown = form_class(view=view)  # the form as the page shows it: its initial values
        unknown = set(entry.fields) - set(shown.fields)
        if unknown:
            return (
                f"the form has no fields {sorted(unknown)} (its fields: {', '.join(shown.fields)})"
            )
        data = {}
        for name, form_field in shown.fields.items():
            value = entry.fields.get(name, shown.get_initial_for_field(form_field, name))
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if isinstance(value, str):
                value = self._own(value)
            elif isinstance(value, list):
                value = [self._own(str(v)) for v in value]
            if value is None or value is False:
                continue  # an empty field, an unticked box: not posted, as a browser does
            data[shown.add_prefix(name)] = "on" if value is True else value
        bound = form_class(data, view=view)
        if not bound.is_valid():
            errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in bound.errors.items())
            return f"the form refused its fields: {errors}"
        try:
            bound.apply(Recorder(view))
        except CallFailed as failure:
            return f"the form's call failed: {failure.call.error}"
        return ""

    def renewal(self) -> str:
        """What a lab-hour does to this sandbox alone: each instance's live set renewed, as the
        clock's tick renews a due one (``credentials_renew``: the same compare-and-set). Other
        sandboxes are left alone, so a self-test on a live site moves nobody's clock."""
        live = InstanceCredentials.objects.filter(
            sandbox=self.sandbox,
            superseded_at=None,
            forgotten_at=None,
            expires_at__gt=timezone.now(),
        )
        renewed = 0
        for current in live:
            fresh = credentials_renew(
                sandbox=self.sandbox,
                instance_id=current.instance_id,
                role_name=current.role_name,
                current=current,
            )
            renewed += fresh is not None
        if not renewed:
            return "no instance of the sandbox has credentials for the clock to renew"
        return ""


def lab_selftest(lab: Lab, *, ways: tuple[str, ...] = WAYS, keep: bool = False) -> Report:
    """Run the lab's solutions both ways, each on a fresh sandbox of a new learner, and report
    every row and problem. The learners and their sandboxes are removed afterwards, unless
    ``keep`` (then ``Report.learners`` has them, their results stored as Check stores them).
    Raises connection.SandboxServerUnavailable when the sandbox server does not answer."""
    report = Report(lab)
    for way in ways:
        learner = Learner.objects.create(display_name=f"selftest {lab.slug} {way}")
        try:
            sandbox = sandbox_provision(learner=learner)
        except BaseException:
            learner.delete()  # nothing was made for it on the server
            raise
        try:
            _Run(lab, way, report, sandbox).run()
        finally:
            if keep:
                report.learners[way] = learner
            else:
                # An account a server that is down never drops goes with its next restart.
                with contextlib.suppress(*connection.SANDBOX_ERRORS):
                    sandbox_drop(sandbox=sandbox)
                learner.delete()
    return report
