"""No cue but knowledge predicts the answer: over the whole bank, the correct option is the longest
(or the shortest) no more often than chance allows, no item offers "all/none of the above" or the
same option twice, and the correct options are not the hedged ones.

Test-wiseness cues follow the item-writing guidelines of Haladyna, Downing and Rodriguez (2002),
"A review of multiple-choice item-writing guidelines" (options of similar length, no "all of the
above", no repeated options, no qualifier that gives the key away)."""

import re

from learnlab.quiz.bank import load_bank

MARGIN = 0.10  # ten points above chance at most
HEDGES = re.compile(
    r"\b(usually|typically|generally|often|may|might|can|could|some|most|normally|sometimes)\b",
    re.IGNORECASE,
)


def _single():
    return [item for item in load_bank().values() if item.kind == "single"]


def _share(items, extreme) -> float:
    """The share of items whose correct option is strictly the ``extreme`` (max or min) length."""
    hits = 0
    for item in items:
        (key,) = item.correct
        lengths = [len(option.text) for option in item.options]
        others = [length for n, length in enumerate(lengths) if n != key]
        hits += lengths[key] > max(others) if extreme is max else lengths[key] < min(others)
    return hits / len(items)


def test_the_correct_option_is_the_longest_no_more_often_than_chance():
    items = _single()
    chance = 1 / len(items[0].options)
    longest = _share(items, max)
    print(f"correct option strictly longest: {longest:.1%} of {len(items)} single-answer items")
    print(f"chance (1 in {len(items[0].options)}): {chance:.1%}; bound: {chance + MARGIN:.1%}")
    assert longest <= chance + MARGIN


def test_the_correct_option_is_the_shortest_no_more_often_than_chance():
    items = _single()
    chance = 1 / len(items[0].options)
    shortest = _share(items, min)
    print(f"correct option strictly shortest: {shortest:.1%}; chance {chance:.1%}")
    assert shortest <= chance + MARGIN


def test_no_all_or_none_of_the_above_and_no_option_twice():
    for item in load_bank().values():
        texts = [" ".join(option.text.lower().split()) for option in item.options]
        assert not [t for t in texts if re.search(r"\b(all|none|both) of the above\b", t)], item.id
        assert len(set(texts)) == len(texts), item.id


def test_the_correct_options_are_not_the_hedged_ones():
    items = _single()
    correct = sum(bool(HEDGES.search(o.text)) for i in items for o in i.options if o.correct)
    wrong = sum(bool(HEDGES.search(o.text)) for i in items for o in i.options if not o.correct)
    correct_share, wrong_share = correct / len(items), wrong / (3 * len(items))
    print(f"hedged: correct options {correct_share:.1%}, distractors {wrong_share:.1%}")
    assert correct_share <= wrong_share + MARGIN


def test_the_correct_options_of_multiple_answer_items_are_not_longer_on_average():
    items = [item for item in load_bank().values() if item.kind == "multiple"]
    right = [len(o.text) for i in items for o in i.options if o.correct]
    wrong = [len(o.text) for i in items for o in i.options if not o.correct]
    mean_right, mean_wrong = sum(right) / len(right), sum(wrong) / len(wrong)
    print(f"multiple-answer mean length: correct {mean_right:.0f}, distractors {mean_wrong:.0f}")
    assert mean_right <= mean_wrong * 1.15


def test_every_item_keeps_an_explanation_for_each_option_and_its_exam_point():
    for item in load_bank().values():
        assert item.points and all(len(option.explanation) > 20 for option in item.options)
