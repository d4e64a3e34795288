"""Connected in LtiConfig.ready: a Check (labs' ``step_checked``) and a quiz answer queue
their grade posts and xAPI statements on the task cluster, after the transaction commits."""

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_save

from learnlab.labs.selectors import lab_progress
from learnlab.labs.services import step_checked
from learnlab.lti import jobs, xapi
from learnlab.lti.models import LtiGrade
from learnlab.quiz.models import Answer


def on_step_checked(sender, *, learner, lab, step, result, outcomes, **kwargs) -> None:
    grades = list(
        LtiGrade.objects.filter(learner=learner, lab=lab.slug).values_list("pk", flat=True)
    )
    for grade_id in grades:
        transaction.on_commit(lambda g=grade_id: jobs.queue("score_post", g))
    if settings.LEARNLAB_XAPI_URL:
        # ``completed`` once per learner and lab: when this Check finishes the lab, that is
        # every step passes now and one of them passed for the first time in this Check
        # (``passed_at`` is set once, at a step's first pass; a Check stores its own time in
        # ``checked_at``). A passing re-Check of a finished lab sends attempted and passed only.
        progress = lab_progress(learner=learner, lab=lab)[0]
        completed = (
            bool(result.passed)
            and all(p.passed for p in progress)
            and any(p.result.passed_at == result.checked_at for p in progress)
        )
        statements = xapi.check_statements(
            learner=learner,
            lab=lab,
            step=step,
            passed=bool(result.passed),
            message=result.message,
            completed=completed,
        )
        transaction.on_commit(lambda: jobs.queue("statements_send", statements))


def on_answer_saved(sender, instance, created, **kwargs) -> None:
    if not created or not settings.LEARNLAB_XAPI_URL:
        return
    statement = xapi.answer_statement(
        learner=instance.learner,
        item_id=instance.item_id,
        correct=instance.correct,
        chosen=instance.chosen,
    )
    transaction.on_commit(lambda: jobs.queue("statements_send", [statement]))


def connect() -> None:
    step_checked.connect(on_step_checked, dispatch_uid="learnlab.lti.step_checked")
    post_save.connect(on_answer_saved, sender=Answer, dispatch_uid="learnlab.lti.answer")
