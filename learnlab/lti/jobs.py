"""What the task cluster does for LTI and xAPI: slow remotes never hold up a learner's Check.

Each job retries itself on failure (LEARNLAB_LTI_RETRIES times, waiting 5 s, 10 s, 20 s ...),
then gives up and logs why; a score is always the learner's current one when it is posted, so
a retry or a late job never posts an older score over a newer one.
"""

import logging
from datetime import timedelta

import requests
from django.conf import settings
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task, schedule
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.exception import LtiException
from pylti1p3.grade import Grade
from pylti1p3.lineitem import LineItem
from pylti1p3.service_connector import ServiceConnector

from learnlab.labs.catalog import lab_get
from learnlab.labs.selectors import lab_progress
from learnlab.lti.connection import DeadlineSession
from learnlab.lti.models import LtiCourse, LtiGrade
from learnlab.lti.services import roster_sync

log = logging.getLogger(__name__)
REMOTE_ERRORS = (requests.RequestException, LtiException, ValueError)


def _retry(func: str, *args, attempt: int, error: Exception) -> None:
    if attempt >= settings.LEARNLAB_LTI_RETRIES:
        log.error("%s%r gave up after %d attempts: %s", func, args, attempt, error)
        return
    wait = 5 * 2 ** (attempt - 1)
    log.warning("%s%r failed (attempt %d), again in %d s: %s", func, args, attempt, wait, error)
    schedule(
        func,
        *args,
        attempt + 1,
        schedule_type=Schedule.ONCE,
        repeats=1,
        next_run=timezone.now() + timedelta(seconds=wait),
    )


def score_post(grade_id: int, attempt: int = 1) -> str:
    """Post the learner's current score for a lab to its line item (AGS): steps passed out of
    the lab's steps, Completed and FullyGraded once every step passes."""
    grade = (
        LtiGrade.objects.select_related("learner", "account__lti_user__registration")
        .filter(pk=grade_id)
        .first()
    )
    lab = lab_get(grade.lab) if grade else None
    if grade is None or lab is None:
        return "gone"
    progress, _ = lab_progress(learner=grade.learner, lab=lab)
    passed = sum(1 for p in progress if p.passed)
    done = passed == len(lab.steps)
    score = (
        Grade()
        .set_score_given(passed)
        .set_score_maximum(len(lab.steps))
        .set_timestamp(timezone.now().isoformat())
        .set_activity_progress("Completed" if done else "InProgress")
        .set_grading_progress("FullyGraded" if done else "Pending")
        .set_user_id(grade.account.lti_user.sub)
    )
    registration = grade.account.lti_user.registration.to_registration()
    ags = AssignmentsGradesService(
        ServiceConnector(registration, DeadlineSession()),
        {"scope": grade.scopes, "lineitem": grade.lineitem_url, "lineitems": grade.lineitems_url},
    )
    lineitem = None
    if not grade.lineitem_url:  # the link has no line item of its own: find or make the lab's
        lineitem = (
            LineItem()
            .set_label(lab.title)
            .set_score_maximum(len(lab.steps))
            .set_resource_id(lab.slug)
            .set_resource_link_id(grade.resource_link_id)
        )
    try:
        ags.put_grade(score, lineitem)
    except REMOTE_ERRORS as error:
        LtiGrade.objects.filter(pk=grade.pk).update(last_error=str(error)[:2000])
        _retry("learnlab.lti.jobs.score_post", grade_id, attempt=attempt, error=error)
        return "failed"
    LtiGrade.objects.filter(pk=grade.pk).update(
        last_posted_at=timezone.now(), last_score=f"{passed}/{len(lab.steps)}", last_error=""
    )
    return f"{passed}/{len(lab.steps)}"


def statements_send(statements: list, attempt: int = 1) -> str:
    """Post xAPI statements to the learning record store (one request, a list)."""
    url = settings.LEARNLAB_XAPI_URL.rstrip("/")
    if not url:
        return "no LRS"
    auth = None
    if settings.LEARNLAB_XAPI_USERNAME:
        auth = (settings.LEARNLAB_XAPI_USERNAME, settings.LEARNLAB_XAPI_PASSWORD)
    try:
        response = DeadlineSession().post(
            f"{url}/statements",
            json=statements,
            auth=auth,
            headers={"X-Experience-API-Version": "1.0.3"},
        )
        response.raise_for_status()
    except requests.RequestException as error:
        _retry("learnlab.lti.jobs.statements_send", statements, attempt=attempt, error=error)
        return "failed"
    return f"sent {len(statements)}"


def roster_sync_job(course_id: int, attempt: int = 1) -> str:
    course = (
        LtiCourse.objects.select_related("context__deployment__registration")
        .filter(pk=course_id)
        .first()
    )
    if course is None:
        return "gone"
    try:
        return f"{roster_sync(course=course)} members"
    except REMOTE_ERRORS as error:
        _retry("learnlab.lti.jobs.roster_sync_job", course_id, attempt=attempt, error=error)
        return "failed"


def queue(func: str, *args) -> None:
    async_task(f"learnlab.lti.jobs.{func}", *args, group="lti")
