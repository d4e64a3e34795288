"""The account merge keeps the 50-mistakes cap: a learner with a full table who merges another
full table keeps the newest 50 of the two, not 100."""

from datetime import timedelta

import pytest
from django.utils import timezone

from learnlab.learners.models import Learner
from learnlab.quiz.models import LabMistake
from learnlab.quiz.services import MISTAKES_PER_LEARNER, lab_mistake_record, lab_mistakes_merge

pytestmark = pytest.mark.django_db


def _fill(learner: Learner, prefix: str, hours_ago: int) -> None:
    for n in range(MISTAKES_PER_LEARNER):
        lab_mistake_record(
            learner=learner,
            lab="instance-role",
            step=3,
            points=["EP06"],
            source="console",
            reason=f"{prefix}{n}",
            message=prefix,
        )
    when = timezone.now() - timedelta(hours=hours_ago)
    LabMistake.objects.filter(learner=learner).update(at=when)


def test_a_merge_keeps_the_newest_mistakes_within_the_cap():
    source, target = Learner.objects.create(), Learner.objects.create()
    _fill(target, "Old", hours_ago=2)
    _fill(source, "New", hours_ago=1)

    lab_mistakes_merge(source=source, target=target)

    kept = LabMistake.objects.filter(learner=target)
    assert kept.count() == MISTAKES_PER_LEARNER
    assert set(kept.values_list("message", flat=True)) == {"New"}
    assert not LabMistake.objects.filter(learner=source).exists()


def test_a_merge_under_the_cap_keeps_everything():
    source, target = Learner.objects.create(), Learner.objects.create()
    for learner, reason in ((source, "A"), (target, "B")):
        lab_mistake_record(
            learner=learner,
            lab="instance-role",
            step=2,
            points=["EP04"],
            source="console",
            reason=reason,
            message=reason,
        )

    lab_mistakes_merge(source=source, target=target)

    assert sorted(LabMistake.objects.filter(learner=target).values_list("reason", flat=True)) == [
        "A",
        "B",
    ]
