"""Every lab tests itself (the CI check): for every file in learnlab/labs/content/, each step's
CLI and console solutions run on a fresh sandbox through the real terminal interpreter, console
forms, gate, sandbox server and metadata service; each check goes green in order, and stays red
on an empty sandbox and just before its step. A lab whose solutions and checks disagree fails,
naming the file and step."""

import pytest

from learnlab.labs.catalog import LAB_DIR, WAYS, lab_read
from learnlab.labs.selftest import lab_selftest

pytestmark = pytest.mark.django_db

LAB_FILES = sorted(LAB_DIR.glob("*.toml"))


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("path", LAB_FILES, ids=[path.stem for path in LAB_FILES])
def test_every_step_of_the_lab_passes_by_its_solution_and_only_after_it(sandbox_server, path, way):
    lab = lab_read(path)
    report = lab_selftest(lab, ways=(way,))
    assert report.ok, "\n".join(report.problem_lines())
    assert [row.step.number for row in report.rows] == [s.number for s in lab.steps]
    assert all(row.ok for row in report.rows)
