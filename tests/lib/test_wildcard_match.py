"""The one IAM wildcard matcher (``lib/iam_policy.wildcard_match``): what a regular expression
of the same glob says, in time linear-ish in its input whatever the pattern."""

import re
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from learnlab.lib.iam_policy import wildcard_match

# A small alphabet, so patterns and texts often overlap: both cases of a letter, a regex
# metacharacter, a slash, a newline, and the two wildcards (literal in a text).
ALPHABET = "aAb.[/\n*?"


def _as_regex(pattern: str, ignore_case: bool) -> re.Pattern:
    parts = ("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("".join(parts), flags)


@settings(max_examples=3000, deadline=None)
@given(
    pattern=st.text(ALPHABET, max_size=8),
    text=st.text(ALPHABET, max_size=10),
    ignore_case=st.booleans(),
)
def test_it_agrees_with_the_regex_of_the_same_glob(pattern, text, ignore_case):
    expected = bool(_as_regex(pattern, ignore_case).fullmatch(text))
    assert wildcard_match(pattern, text, ignore_case=ignore_case) is expected


def test_examples_of_each_rule():
    assert wildcard_match("s3:Get*", "s3:GetObject", ignore_case=False)
    assert wildcard_match("S3:get*", "s3:GetObject", ignore_case=True)
    assert not wildcard_match("S3:get*", "s3:GetObject", ignore_case=False)
    assert wildcard_match("arn:aws:s3:::b/*", "arn:aws:s3:::b/", ignore_case=False)
    assert not wildcard_match("arn:aws:s3:::b/?", "arn:aws:s3:::b/", ignore_case=False)
    assert wildcard_match("a*b*c", "a-x-b-y-b-c", ignore_case=False)
    assert not wildcard_match("a*b*c", "a-x-b-y-b-", ignore_case=False)
    assert wildcard_match("sts:Assume[R]ole", "sts:Assume[R]ole", ignore_case=False)
    assert not wildcard_match("sts:Assume[R]ole", "sts:AssumeRole", ignore_case=False)
    assert wildcard_match("", "", ignore_case=False)
    assert not wildcard_match("", "x", ignore_case=False)
    assert wildcard_match("***", "", ignore_case=False)


def test_alternating_stars_and_marks_that_cannot_match_are_quick():
    """The pattern that makes a backtracking regex take seconds (``*?`` pairs ending in a
    character the text lacks): 12 pairs against a 2,000-character ARN, well under a second
    (a ``.*..*.`` regex takes seconds with 6 pairs and 60 characters)."""
    pattern = "arn:aws:s3:::b/" + "*?" * 12 + "#"
    text = "arn:aws:s3:::b/" + "a" * 2000
    started = time.perf_counter()
    assert not wildcard_match(pattern, text, ignore_case=False)
    assert not wildcard_match(pattern, text, ignore_case=True)
    assert time.perf_counter() - started < 0.5
