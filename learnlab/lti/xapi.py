"""xAPI statements (1.0.3): what a learner did, for a learning record store.

Verbs are ADL's: ``attempted`` (a Check of a step), ``passed`` (the step passed), ``completed``
(every step of the lab passed), ``answered`` (a quiz item). The actor is the learner's
account on LearnLab (LEARNLAB_XAPI_HOMEPAGE), or on their LTI platform when they came from one.
"""

import uuid

from django.conf import settings
from django.utils import timezone

from learnlab.labs.catalog import Lab, Step
from learnlab.learners.models import Learner
from learnlab.lti.models import LtiAccount

VERSION = "1.0.3"
ADL = "http://adlnet.gov/expapi/verbs/"
VERBS = ("attempted", "passed", "completed", "answered")
LESSON = "http://adlnet.gov/expapi/activities/lesson"
OBJECTIVE = "http://adlnet.gov/expapi/activities/objective"
INTERACTION = "http://adlnet.gov/expapi/activities/cmi.interaction"


def _home() -> str:
    return settings.LEARNLAB_XAPI_HOMEPAGE.rstrip("/")


def actor_of(learner: Learner) -> dict:
    account = (
        LtiAccount.objects.filter(user_id=learner.user_id).select_related("lti_user__registration")
        if learner.user_id
        else LtiAccount.objects.none()
    ).first()
    if account is not None:  # the platform's own identity for the learner
        home, name = account.lti_user.registration.issuer, account.lti_user.sub
    else:
        home, name = _home(), str(learner.pk)
    actor = {"objectType": "Agent", "account": {"homePage": home, "name": name}}
    if learner.display_name:
        actor["name"] = learner.display_name
    return actor


def lab_activity(lab: Lab) -> dict:
    return {
        "objectType": "Activity",
        "id": f"{_home()}/lab/{lab.slug}/",
        "definition": {"name": {"en-US": lab.title}, "type": LESSON},
    }


def step_activity(lab: Lab, step: Step) -> dict:
    return {
        "objectType": "Activity",
        "id": f"{_home()}/lab/{lab.slug}/#{step.anchor}",
        "definition": {"name": {"en-US": f"Step {step.number}: {step.title}"}, "type": OBJECTIVE},
    }


def statement(*, learner: Learner, verb: str, activity: dict, result=None, parent=None) -> dict:
    assert verb in VERBS
    body = {
        "id": str(uuid.uuid4()),
        "actor": actor_of(learner),
        "verb": {"id": ADL + verb, "display": {"en-US": verb}},
        "object": activity,
        "timestamp": timezone.now().isoformat(),
        "context": {"platform": "LearnLab", "language": "en-US"},
        "version": VERSION,
    }
    if parent is not None:
        body["context"]["contextActivities"] = {"parent": [parent]}
    if result is not None:
        body["result"] = result
    return body


def check_statements(
    *, learner: Learner, lab: Lab, step: Step, passed: bool, message: str, completed: bool
) -> list[dict]:
    """A Check: ``attempted`` the step (its outcome in ``result``), ``passed`` when it did,
    ``completed`` the lab when every step passes with it."""
    parent = lab_activity(lab)
    activity = step_activity(lab, step)
    out = [
        statement(
            learner=learner,
            verb="attempted",
            activity=activity,
            result={"success": passed, "response": message[:1000]},
            parent=parent,
        )
    ]
    if passed:
        out.append(
            statement(
                learner=learner,
                verb="passed",
                activity=activity,
                result={"success": True},
                parent=parent,
            )
        )
    if completed:
        out.append(
            statement(
                learner=learner,
                verb="completed",
                activity=parent,
                result={"completion": True, "success": True},
            )
        )
    return out


def answer_statement(*, learner: Learner, item_id: str, correct: bool, chosen) -> dict:
    return statement(
        learner=learner,
        verb="answered",
        activity={
            "objectType": "Activity",
            "id": f"{_home()}/quiz/items/{item_id}",
            "definition": {"type": INTERACTION, "interactionType": "choice"},
        },
        result={"success": bool(correct), "response": "[,]".join(map(str, chosen or []))},
    )
