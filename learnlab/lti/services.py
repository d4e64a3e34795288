"""LTI launches into LearnLab: the platform's user becomes an account (no sign-up), the course
a class, instructors LearnLab instructors and learners its members; grades and roster."""

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from lti_tool.models import LtiContext, LtiLaunch, LtiMembership, LtiRegistration, LtiUser
from pylti1p3.names_roles import NamesRolesProvisioningService
from pylti1p3.service_connector import ServiceConnector

from learnlab.classroom.models import Classroom
from learnlab.classroom.services import classroom_create, classroom_join, instructor_grant
from learnlab.labs.catalog import Lab, Step, lab_get, labs_all
from learnlab.learners.models import Learner
from learnlab.lti.connection import DeadlineSession
from learnlab.lti.models import LtiAccount, LtiCourse, LtiGrade, UsedNonce

log = logging.getLogger(__name__)
User = get_user_model()
CUSTOM_LAB, CUSTOM_STEP = "learnlab_lab", "learnlab_step"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"


class LaunchError(ValueError):
    """A launch LearnLab cannot serve; the message says why and what to do."""


@dataclass
class Arrival:
    learner: Learner
    user: object
    classroom: Classroom
    instructor: bool
    lab: Lab
    step: Step | None


def platform_origin(registration: LtiRegistration) -> str:
    """The platform's web origin (it frames LearnLab): its OIDC authorization endpoint's."""
    parts = urlsplit(registration.auth_url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def lti_account_for(*, lti_user: LtiUser) -> LtiAccount:
    """The account of a platform's user, made on first launch: a username no one signs up
    with (``lti-`` and a hash of issuer and subject), and no usable password."""
    account = LtiAccount.objects.filter(lti_user=lti_user).select_related("user").first()
    if account is not None:
        return account
    digest = hashlib.sha256(f"{lti_user.registration.issuer}\n{lti_user.sub}".encode()).hexdigest()
    with transaction.atomic():
        user, created = User.objects.get_or_create(
            username=f"lti-{digest[:24]}",
            defaults={
                "first_name": (lti_user.given_name or "")[:150],
                "last_name": (lti_user.family_name or "")[:150],
            },
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        account, _ = LtiAccount.objects.get_or_create(lti_user=lti_user, defaults={"user": user})
    return account


def display_name_of(lti_user: LtiUser) -> str:
    name = lti_user.name or " ".join(p for p in (lti_user.given_name, lti_user.family_name) if p)
    return (name or f"Learner {lti_user.sub[:8]}")[:60]


def _placeholder_instructor(context: LtiContext):
    """Who owns a class its course's learners opened before any instructor did: an inactive
    account that cannot sign in; the first instructor's launch takes the class over."""
    user, created = User.objects.get_or_create(
        username=f"lti-course-{context.pk}", defaults={"is_active": False}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def lti_course_for(*, context: LtiContext, lab: Lab, instructor=None) -> LtiCourse:
    """The class for a course: created on its first launch, taken over by its first
    instructor (a class opened by a learner first belongs to a placeholder until then)."""
    course = LtiCourse.objects.filter(context=context).select_related("classroom").first()
    if course is None:
        name = (context.title or context.label or "LTI course")[:80]
        owner = instructor or _placeholder_instructor(context)
        classroom = classroom_create(instructor=owner, name=name)
        classroom.lab = lab.slug
        classroom.save(update_fields=["lab"])
        course, _ = LtiCourse.objects.get_or_create(
            context=context, defaults={"classroom": classroom}
        )
    classroom = course.classroom
    if instructor is not None and classroom.instructor.username.startswith("lti-course-"):
        classroom.instructor = instructor
        classroom.save(update_fields=["instructor"])
    return course


def _is_teacher(membership: LtiMembership) -> bool:
    return bool(membership.is_instructor or membership.is_administrator)


def _chosen_lab(launch: LtiLaunch) -> tuple[Lab, Step | None]:
    slug = launch.get_custom_claim(CUSTOM_LAB)
    lab = lab_get(slug) if slug else next(iter(labs_all().values()), None)
    if lab is None:
        raise LaunchError(
            f"This course's link names a lab LearnLab does not have ({slug!r}). Ask your "
            "instructor to pick the lab again (Deep Linking)."
        )
    step_slug = launch.get_custom_claim(CUSTOM_STEP)
    return lab, (lab.step(step_slug) if step_slug else None)


def lti_launch_arrive(*, launch: LtiLaunch) -> Arrival:
    """A resource launch, after django-lti synced its user, context and membership: the
    account, the class (created or joined), the role, and where grades go."""
    lab, step = _chosen_lab(launch)
    membership = launch.membership
    account = lti_account_for(lti_user=launch.user)
    user = account.user
    teacher = _is_teacher(membership)
    if teacher:
        instructor_grant(user=user)
    course = lti_course_for(context=launch.context, lab=lab, instructor=user if teacher else None)
    learner, _ = Learner.objects.get_or_create(user=user)
    if not teacher:
        classroom_join(
            classroom=course.classroom, learner=learner, display_name=display_name_of(launch.user)
        )
        _remember_grade(launch=launch, account=account, learner=learner, lab=lab)
    return Arrival(learner, user, course.classroom, teacher, lab, step)


def _remember_grade(*, launch: LtiLaunch, account: LtiAccount, learner: Learner, lab: Lab):
    claim = launch.ags_claim or {}
    scopes = claim.get("scope", [])
    if SCORE_SCOPE not in scopes or not (claim.get("lineitem") or claim.get("lineitems")):
        return None
    grade, _ = LtiGrade.objects.update_or_create(
        account=account,
        resource_link_id=launch.resource_link_claim["id"],
        defaults={
            "learner": learner,
            "lab": lab.slug,
            "lineitem_url": claim.get("lineitem", ""),
            "lineitems_url": claim.get("lineitems", ""),
            "scopes": scopes,
        },
    )
    return grade


def roster_sync(*, course: LtiCourse) -> int:
    """The course's roster from the platform (Names and Role Provisioning): each active
    learner joins the class (so the board lists them before they launch), each instructor
    becomes a LearnLab instructor. Returns how many members it saw."""
    context = course.context
    if not context.memberships_url:
        return 0
    nrps = NamesRolesProvisioningService(
        ServiceConnector(context.deployment.registration.to_registration(), DeadlineSession()),
        {"context_memberships_url": context.memberships_url},
    )
    members = nrps.get_members()
    context.update_memberships([{"status": "Active", **m} for m in members])
    for membership in LtiMembership.objects.filter(context=context).select_related(
        "user__registration"
    ):
        account = lti_account_for(lti_user=membership.user)
        if _is_teacher(membership):
            instructor_grant(user=account.user)
        elif membership.is_learner and membership.is_active:
            learner, _ = Learner.objects.get_or_create(user=account.user)
            classroom_join(
                classroom=course.classroom,
                learner=learner,
                display_name=display_name_of(membership.user),
            )
    course.roster_synced_at = timezone.now()
    course.save(update_fields=["roster_synced_at"])
    return len(members)


def nonce_use(*, issuer: str, nonce: str, expires: int | None) -> bool:
    """Record a launch's nonce as used; False when it already was (a replay). Kept until the
    launch's id_token expires (its ``exp``, at most a day), then pruned."""
    now = timezone.now()
    until = now + timedelta(days=1)
    if isinstance(expires, int | float):
        until = min(until, datetime.fromtimestamp(expires, tz=UTC) + timedelta(minutes=5))
    UsedNonce.objects.filter(expires_at__lt=now).delete()
    try:
        with transaction.atomic():
            UsedNonce.objects.create(issuer=issuer[:255], nonce=str(nonce)[:255], expires_at=until)
    except IntegrityError:
        return False
    return True
