"""No cue but knowledge predicts the answer: over the whole bank, the correct option is the longest
(or the shortest, or neither) about as often as chance would have it, no item offers "all/none of
the above" or the same option twice, and the correct options are not the hedged ones.

Test-wiseness cues follow the item-writing guidelines of Haladyna, Downing and Rodriguez (2002),
"A review of multiple-choice item-writing guidelines" (options of similar length, no "all of the
above", no repeated options, no qualifier that gives the key away).

Length is measured three ways, since a learner can play it three ways: pick the longest, pick the
shortest, or avoid both and pick among the middle lengths. The key is the longest (and the
shortest) within MARGIN of chance, either side, and the middle strategy scores at most MARGIN
above chance. Three points is tighter than a random bank would be held to: over about 70
single-answer items of four options, one standard error of a share near 25 % is about five
points, so a bound from sampling error alone would sit near ten points above chance. But the
bank is not a sample; it is ours to write, and an item that leaks its key by length is fixed by
rewording an option, so the bound holds the bank to chance rather than to what luck excuses."""

import re

from learnlab.quiz.bank import load_bank

MARGIN = 0.03  # three points above chance at most (see the module's docstring)
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


def test_the_correct_option_is_the_longest_about_as_often_as_chance():
    items = _single()
    chance = 1 / len(items[0].options)
    longest = _share(items, max)
    print(f"correct option strictly longest: {longest:.1%} of {len(items)} single-answer items")
    low, high = chance - MARGIN, chance + MARGIN
    print(f"chance (1 in {len(items[0].options)}): {chance:.1%}; bounds: {low:.1%} to {high:.1%}")
    # Too rarely is a cue as well: avoiding that extreme would then beat chance.
    assert low <= longest <= high


def test_the_correct_option_is_the_shortest_about_as_often_as_chance():
    items = _single()
    chance = 1 / len(items[0].options)
    shortest = _share(items, min)
    print(f"correct option strictly shortest: {shortest:.1%} of {len(items)} single-answer items")
    low, high = chance - MARGIN, chance + MARGIN
    print(f"chance (1 in {len(items[0].options)}): {chance:.1%}; bounds: {low:.1%} to {high:.1%}")
    # Too rarely is a cue as well: avoiding that extreme would then beat chance.
    assert low <= shortest <= high


def _middle_score(item) -> float:
    """The exact expected score, on one item, of picking uniformly among the options whose length
    is neither the longest nor the shortest (strictly between the two). When no option is (all
    options of one or two lengths), the strategy has nothing to go on and guesses among all."""
    (key,) = item.correct
    lengths = [len(option.text) for option in item.options]
    middle = [n for n, length in enumerate(lengths) if min(lengths) < length < max(lengths)]
    if not middle:
        return 1 / len(lengths)
    return (key in middle) / len(middle)


def test_picking_among_the_middle_lengths_scores_no_better_than_chance():
    items = _single()
    chance = 1 / len(items[0].options)
    middle = sum(_middle_score(item) for item in items) / len(items)
    print(f"avoid the longest and the shortest: expected score {middle:.1%}; chance {chance:.1%}")
    print(f"bound: {chance + MARGIN:.1%}")
    assert middle <= chance + MARGIN


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
