"""The question bank in learnlab/quiz/bank/ is valid, and the loader refuses what is not."""

from collections import Counter

import pytest

from learnlab.quiz.bank import EXAM_POINTS, BankError, load_bank


def test_the_bank_has_at_least_sixty_items_and_three_per_exam_point():
    bank = load_bank()
    assert len(bank) >= 60
    per_point = Counter(point for item in bank.values() for point in item.points)
    assert {point: per_point[point] for point in EXAM_POINTS if per_point[point] < 3} == {}


def test_every_item_has_one_correct_set_and_an_explanation_per_option():
    for item in load_bank().values():
        assert item.choose == (1 if item.kind == "single" else item.choose)
        assert all(option.explanation for option in item.options), item.id
        assert item.is_right(item.correct), item.id


def test_the_bank_serves_both_exams_and_both_kinds():
    items = load_bank().values()
    assert {exam for item in items for exam in item.exams} == {"CLF-C02", "SAA-C03"}
    assert {item.kind for item in items} == {"single", "multiple"}


GOOD = """
[[item]]
id = "ep07-sample"
points = ["EP07"]
exams = ["SAA-C03"]
difficulty = "easy"
kind = "single"
stem = "How many roles can one instance profile hold?"
[[item.options]]
text = "One"
correct = true
explanation = "A profile holds at most one role."
[[item.options]]
text = "Two"
correct = false
explanation = "The limit is one."
[[item.options]]
text = "Ten"
correct = false
explanation = "The limit is one."
[[item.options]]
text = "Unlimited"
correct = false
explanation = "The limit is one."
"""


def _bank(tmp_path, text):
    (tmp_path / "ep07.toml").write_text(text)
    load_bank.cache_clear()
    try:
        return load_bank(tmp_path)
    finally:
        load_bank.cache_clear()


def test_a_well_formed_item_loads(tmp_path):
    assert list(_bank(tmp_path, GOOD)) == ["ep07-sample"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('points = ["EP07"]', 'points = ["EP99"]'), "points must be exam point ids"),
        (('exams = ["SAA-C03"]', 'exams = ["AZ-900"]'), "exams must be among"),
        (('explanation = "A profile holds at most one role."', 'explanation = ""'), "explanation"),
        (("correct = false", "correct = true"), "exactly 1 correct"),
        (('kind = "single"', 'kind = "multiple"'), "5 options"),
        (('id = "ep07-sample"', 'id = "Sample"'), "id must look like"),
        (('stem = "How', "stem = 42 #"), "missing or malformed"),
    ],
)
def test_the_loader_names_what_is_wrong(tmp_path, change, message):
    with pytest.raises(BankError) as error:
        _bank(tmp_path, GOOD.replace(*change, 1))
    assert message in str(error.value)
    assert "ep07.toml" in str(error.value)


def test_duplicate_stems_are_refused(tmp_path):
    twice = GOOD + GOOD.replace('id = "ep07-sample"', 'id = "ep07-again"')
    with pytest.raises(BankError, match="duplicate stem"):
        _bank(tmp_path, twice)
