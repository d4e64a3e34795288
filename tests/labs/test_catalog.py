"""Labs are data: every lab file validates, and the validator refuses what would break a lab."""

import pytest

from learnlab.labs.catalog import LabError, lab_parse, labs_all, registries

GOOD_STEP = """
[[steps]]
slug = "make-role"
title = "Make a role"
points = ["EP01"]
check = "role_for_ec2"
instructions = "Do it."
hint = "Like this."
[steps.solution]
console = "Click."
cli = "Type."
"""
HEAD = 'slug = "demo"\ntitle = "Demo"\nsummary = "A demo."\n'


def _parse(text: str):
    return lab_parse(text, where="demo.toml", registries=registries())


def test_every_lab_file_in_the_repository_validates():
    labs = labs_all()
    assert "instance-role" in labs
    lab = labs["instance-role"]
    assert [s.number for s in lab.steps] == list(range(1, len(lab.steps) + 1))
    assert all(s.hint and s.solutions["console"] and s.solutions["cli"] for s in lab.steps)


def test_a_minimal_lab_parses():
    lab = _parse(HEAD + GOOD_STEP)
    assert lab.steps[0].anchor == "step-1"
    assert "<p>Do it.</p>" in lab.steps[0].instructions


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (('check = "role_for_ec2"', 'check = "read_minds"'), "unknown check 'read_minds'"),
        (('points = ["EP01"]', 'points = ["EP99"]'), "unknown exam points ['EP99']"),
        (('hint = "Like this."', ""), "missing hint"),
        (('cli = "Type."', ""), "missing solution for cli"),
        (('console = "Click."', ""), "missing solution for console"),
        (('slug = "make-role"', 'slug = "Make Role"'), "must be lower-case words"),
        (
            ('instructions = "Do it."', 'instructions = "Do it."\nforms = ["teleport"]'),
            "unknown console forms ['teleport']",
        ),
        (('hint = "Like this."', 'hint = "Like this."\nvideo = "x"'), "unknown fields ['video']"),
    ],
)
def test_a_lab_file_with_a_mistake_is_refused_with_the_rule_it_breaks(change, complaint):
    with pytest.raises(LabError) as error:
        _parse(HEAD + GOOD_STEP.replace(*change))
    assert complaint in str(error.value)
    assert "demo.toml, step 1" in str(error.value)


def test_an_unknown_diagram_and_duplicate_steps_are_refused():
    with pytest.raises(LabError, match="unknown diagram 'mural'"):
        _parse(HEAD + 'diagram = "mural"\n' + GOOD_STEP)
    with pytest.raises(LabError, match="step slugs must be unique"):
        _parse(HEAD + GOOD_STEP + GOOD_STEP)
    with pytest.raises(LabError, match="not valid TOML"):
        _parse(HEAD + "[[steps]\n")


@pytest.mark.parametrize("slug", ["relay", "demo-host"])
def test_a_lab_slug_that_another_page_uses_is_refused(slug):
    """/embed/relay/... and /embed/demo-host would shadow such a lab's embed addresses."""
    with pytest.raises(LabError, match=f"slug '{slug}' is reserved"):
        _parse(HEAD.replace('slug = "demo"', f'slug = "{slug}"') + GOOD_STEP)
