"""One broken lab file costs only that lab: it is left out of the catalogue with a logged error
(and ``manage.py lab validate`` still reports it), while every other lab serves."""

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from learnlab.labs import catalog

MANAGE = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
LOGGER = "learnlab.labs.catalog"


@pytest.fixture
def content(monkeypatch, tmp_path):
    """A content folder of the real instance-role lab, a second good lab and a broken one."""
    text = (catalog.LAB_DIR / "instance-role.toml").read_text()
    (tmp_path / "instance-role.toml").write_text(text)
    second = text.replace('slug = "instance-role"', 'slug = "second-lab"', 1)
    (tmp_path / "second-lab.toml").write_text(second)
    (tmp_path / "broken.toml").write_text('slug = "broken"\ntitle = "Unfinished\n')
    monkeypatch.setattr(catalog, "LAB_DIR", tmp_path)
    return tmp_path


def test_a_broken_file_is_left_out_and_logged(content, caplog):
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        labs = catalog.labs_all()

    assert list(labs) == ["instance-role", "second-lab"]
    said = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert any("broken.toml" in line and "not valid TOML" in line for line in said), said
    assert any("broken.toml" in problem for problem in catalog.lab_catalog_errors())


def test_a_duplicate_slug_is_left_out_and_logged(content, caplog):
    (content / "zz-copy.toml").write_text((content / "second-lab.toml").read_text())
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        labs = catalog.labs_all()

    assert list(labs) == ["instance-role", "second-lab"]
    assert labs["second-lab"].path.name == "second-lab.toml"
    said = " ".join(r.getMessage() for r in caplog.records if r.name == LOGGER)
    assert "zz-copy.toml: a lab with slug 'second-lab' already exists" in said


@pytest.mark.django_db
def test_the_other_labs_pages_serve(content, client):
    index = client.get("/lab/")
    assert index.status_code == 200
    assert 'href="/lab/second-lab/"' in index.content.decode()
    assert client.get("/lab/instance-role/").status_code == 200
    assert client.get("/lab/broken/").status_code == 404


def test_lab_validate_still_reports_the_broken_file(content):
    run = subprocess.run(
        [*MANAGE, "lab", "validate", *map(str, sorted(content.glob("*.toml")))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert "broken.toml: not valid TOML" in run.stderr
    assert "second-lab.toml" in run.stdout


def test_the_repositorys_own_labs_have_no_errors():
    """Leaving a file out must not hide a broken lab in the repository itself."""
    catalog.labs_all()
    assert catalog.lab_catalog_errors() == ()
