"""``manage.py lab``: tools for tutorial writers (docs/authoring.md).

- ``lab validate FILE...``: the loader's verdict on each file (file, step, rule); exit 1 on any
  error.
- ``lab selftest SLUG``: run the lab's solutions both ways on fresh sandboxes and print a table
  (needs the sandbox server, as ``make run`` starts it); exit 1 when a solution and its check
  disagree.
- ``lab list``: the checks, console forms and exam points a lab file may name.
"""

import sys
from pathlib import Path

from django.core.management import BaseCommand, CommandError

from learnlab.labs.catalog import LabError, lab_get, lab_read, labs_all, registries
from learnlab.labs.selftest import lab_selftest
from learnlab.quiz.bank import POINT_TITLES
from learnlab.sandbox import connection


def _first_line(function) -> str:
    lines = (function.__doc__ or "").strip().splitlines()
    return lines[0] if lines else f"(see {function.__module__})"


class Command(BaseCommand):
    help = "Validate, self-test and list what lab files may use (docs/authoring.md)."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        validate = commands.add_parser("validate", help="validate lab files (exit 1 on errors)")
        validate.add_argument("files", nargs="+", metavar="FILE")
        selftest = commands.add_parser("selftest", help="run a lab's solutions both ways")
        selftest.add_argument("slug", metavar="SLUG")
        selftest.add_argument("--way", choices=("cli", "console"), help="only this way")
        commands.add_parser("list", help="the checks, forms and exam points lab files may name")

    def handle(self, *args, action, **options):
        return {"validate": self.validate, "selftest": self.selftest, "list": self.list}[action](
            **options
        )

    def validate(self, *, files, **_options):
        failed = False
        for name in files:
            path = Path(name)
            if not path.is_file():
                self.stderr.write(f"{name}: no such file")
                failed = True
                continue
            try:
                lab = lab_read(path)
            except LabError as error:
                self.stderr.write(str(error))
                failed = True
                continue
            runs = sum(
                1 for step in lab.steps for entries in step.runs.values() if entries is not None
            )
            missing = 2 * len(lab.steps) - runs
            note = f"; {missing} step solutions not runnable by lab selftest" if missing else ""
            self.stdout.write(f"{path.name}: {len(lab.steps)} steps, valid{note}")
        if failed:
            sys.exit(1)

    def selftest(self, *, slug, way, **_options):
        try:
            lab = lab_get(slug)
        except LabError as error:
            raise CommandError(str(error)) from error
        if lab is None:
            known = ", ".join(labs_all()) or "none"
            raise CommandError(f"no lab {slug!r} in learnlab/labs/content/ (labs: {known})")
        try:
            report = lab_selftest(lab, ways=(way,) if way else ("cli", "console"))
        except connection.SANDBOX_ERRORS as error:
            raise CommandError(
                f"the sandbox server did not answer ({error}): start it with make run (or "
                f"manage.py runstack), then run lab selftest again"
            ) from error
        self.stdout.write(report.table())
        if not report.ok:
            sys.exit(1)

    def list(self, **_options):
        found = registries()
        self.stdout.write("Checks (check = ...):")
        for name, function in sorted(found["checks"].items()):
            self.stdout.write(f"  {name}: {_first_line(function)}")
        self.stdout.write("Console forms (forms = [...], console_run form = ...):")
        for name, form in sorted(found["forms"].items()):
            fields = ", ".join(form.base_fields) or "fields made from the sandbox"
            self.stdout.write(f"  {name}: {form.title} ({fields})")
        self.stdout.write("Diagrams (diagram = ...): " + ", ".join(sorted(found["diagrams"])))
        self.stdout.write("Exam points (points = [...]):")
        for point, title in POINT_TITLES.items():
            self.stdout.write(f"  {point}: {title}")
