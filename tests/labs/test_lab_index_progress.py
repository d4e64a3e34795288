"""The labs index shows each lab with the learner's progress; under ``make dev`` (DEBUG) the
loader re-reads a lab file whose modification time changed and the open lab page reloads
itself (it polls ``?preview=``), while production never re-reads files nor polls."""

import os

import pytest

from learnlab.labs import catalog
from learnlab.labs.catalog import labs_all
from learnlab.labs.models import StepResult
from learnlab.learners.models import Learner
from learnlab.learners.selectors import SESSION_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_labs(monkeypatch, tmp_path):
    """A content folder with the core lab and a copy of it under another slug."""
    text = (catalog.LAB_DIR / "instance-role.toml").read_text()
    (tmp_path / "instance-role.toml").write_text(text)
    (tmp_path / "second-lab.toml").write_text(
        text.replace('slug = "instance-role"', 'slug = "second-lab"', 1)
    )
    monkeypatch.setattr(catalog, "LAB_DIR", tmp_path)
    return tmp_path


def test_the_index_shows_each_labs_progress_for_this_learner(client, two_labs):
    learner = Learner.objects.create()
    session = client.session
    session[SESSION_KEY] = str(learner.pk)
    session.save()
    steps = labs_all()["instance-role"].steps
    for step in steps[:2]:
        StepResult.objects.create(
            learner=learner,
            lab="instance-role",
            step=step.slug,
            passed=True,
            message="ok",
            checked_at="2026-01-01T00:00Z",
            passed_at="2026-01-01T00:00Z",
        )
    for step in steps:
        StepResult.objects.create(
            learner=learner,
            lab="second-lab",
            step=step.slug,
            passed=True,
            message="ok",
            checked_at="2026-01-01T00:00Z",
            passed_at="2026-01-01T00:00Z",
        )
    page = client.get("/lab/").content.decode()
    assert '<progress max="6" value="2"' in page
    assert "2 of 6 steps passed." in page
    assert 'href="/lab/instance-role/#step-3">Continue at step 3: Attach the profile' in page
    assert "6 of 6 steps passed." in page and 'href="/lab/second-lab/complete"' in page


def test_a_new_visitor_sees_every_lab_not_started_and_gets_no_learner(client, two_labs):
    page = client.get("/lab/").content.decode()
    assert page.count("Not started: 6 steps.") == 2
    assert not Learner.objects.exists()


def test_in_debug_an_edited_lab_file_is_read_again_and_the_page_reloads(
    client, two_labs, settings, sandbox_server
):
    settings.DEBUG = True
    page = client.get("/lab/second-lab/").content.decode()
    assert 'data-testid="lab-preview"' in page
    version = catalog.lab_version("second-lab")
    assert f"?preview={version}" in page
    assert client.get(f"/lab/second-lab/?preview={version}").status_code == 204
    path = two_labs / "second-lab.toml"
    path.write_text(path.read_text().replace("Give an EC2 instance a role", "Edited title", 1))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    changed = client.get(f"/lab/second-lab/?preview={version}")
    assert changed.status_code == 200 and changed["HX-Refresh"] == "true"
    assert "<h1>Edited title</h1>" in client.get("/lab/second-lab/").content.decode()


def test_in_production_files_are_read_once_and_the_page_does_not_poll(
    client, two_labs, settings, sandbox_server
):
    settings.DEBUG = False
    page = client.get("/lab/second-lab/").content.decode()
    assert 'data-testid="lab-preview"' not in page
    path = two_labs / "second-lab.toml"
    path.write_text(path.read_text().replace("Give an EC2 instance a role", "Edited title", 1))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert "Edited title" not in client.get("/lab/second-lab/").content.decode()
    # ?preview is an ordinary visit in production: the page, never a reload instruction.
    assert "HX-Refresh" not in client.get("/lab/second-lab/?preview=1")
