"""LTI 1.3 endpoints: OIDC login initiation, the launch (resource link and deep linking), the
tool's JWKS, the deep-link picker's answer, and the instructor's way to the class board."""

import logging
import secrets
import time
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.core import signing
from django.http import HttpResponseRedirect
from django.middleware.csp import get_nonce
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.csp import CSP
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from lti_tool.models import LtiLaunch, LtiRegistration
from lti_tool.utils import DjangoToolConfig, sync_data_from_launch
from lti_tool.views import LtiLaunchBaseView, OIDCLoginInitView, jwks
from pylti1p3.contrib.django import DjangoCacheDataStorage, DjangoMessageLaunch, DjangoOIDCLogin
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.lineitem import LineItem

from learnlab.classroom.models import Classroom
from learnlab.embed.tokens import PARAM, embed_token_mint
from learnlab.labs.catalog import labs_all
from learnlab.lti import jobs
from learnlab.lti.connection import DeadlineSession
from learnlab.lti.models import UsedNonce
from learnlab.lti.services import (
    CUSTOM_LAB,
    CUSTOM_STEP,
    LaunchError,
    display_name_of,
    lti_course_for,
    lti_launch_arrive,
    nonce_use,
    platform_origin,
)

log = logging.getLogger(__name__)
DEEP_LINK_SALT = "learnlab.lti.deep-link"
BOARD_SALT = "learnlab.lti.board"
DEEP_LINK_SECONDS = 60 * 60
DEEP_LINKING_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
BOARD_SECONDS = 5 * 60
BOARD_USED = (
    "This link to the class board was already used: each works once. Launch LearnLab from "
    "your course again for a new one."
)

__all__ = ["jwks"]  # the tool's public keys, from django-lti (rotated: manage.py rotate_keys)

# What pylti1p3's refusals mean, for a person who cannot read a stack trace.
REFUSALS = (
    (
        ("expired",),
        "This launch has expired: a launch from your course is valid for a few minutes only. "
        "Go back to your course and open the LearnLab link again.",
    ),
    (
        (
            "Signature verification failed",
            "Unable to find public key",
            "JWT must contain",
            "can't be decoded",
            "Can't decode id_token",
        ),
        "This launch was not signed by your learning platform's key, so LearnLab cannot trust "
        "it. Open the link from your course again; if this persists, your administrator should "
        "check the platform's registration (its keyset URL) in LearnLab.",
    ),
    (
        ("Invalid Nonce", "State not found", "Missing state param", "nonce", "already used"),
        "This launch was already used, or did not start from your course. Open the LearnLab "
        "link in your course again (each launch works once).",
    ),
    (
        ("Registration not found", "Client id not registered"),
        "Your learning platform is not registered with LearnLab. An administrator registers it "
        "with `manage.py lti_platform add` or in LearnLab's admin (docs/lti.md).",
    ),
)


def refused(request, error: Exception | str, status: int = 403):
    text = str(error)
    message = next(
        (said for needles, said in REFUSALS if any(n.lower() in text.lower() for n in needles)),
        f"LearnLab could not accept this launch ({text}). Open the link in your course again.",
    )
    log.warning("LTI launch refused: %s", text)
    return render(request, "lti/refused.html", {"message": message, "detail": text}, status=status)


class LoginView(OIDCLoginInitView):
    """OIDC third-party login initiation (the platform's first request of a launch): a
    redirect to the platform's authorization endpoint. Framed (``Sec-Fetch-Dest: iframe``),
    pylti1p3's page first checks the frame may keep the launch's state cookie, and offers a
    new tab when the browser blocks it; its inline script runs under this response's nonce."""

    def get_oidc_response(self, request, registration_uuid, params):
        target = params.get("target_link_uri")
        if not target:
            return refused(request, "The platform sent no target_link_uri.", status=400)
        oidc_login = DjangoOIDCLogin(
            request,
            DjangoToolConfig(registration_uuid),
            launch_data_storage=DjangoCacheDataStorage(),
        )
        framed = request.headers.get("Sec-Fetch-Dest") == "iframe"
        if framed:
            oidc_login.enable_check_cookies(self.main_msg, self.click_msg, self.loading_msg)
        try:
            response = oidc_login.redirect(target)
        except (LtiException, OIDCException) as error:
            return refused(request, error, status=400)
        if framed and response.status_code == 200:
            nonce = str(get_nonce(request))
            response.content = response.content.replace(
                b"<script", f'<script nonce="{nonce}"'.encode()
            )
            response._csp_config = {**settings.SECURE_CSP, "script-src": ["'self'", CSP.NONCE]}
            response.xframe_options_exempt = True
            response._csp_config["frame-ancestors"] = ["*"]  # any platform may start a login
        return response


@method_decorator(csrf_exempt, name="dispatch")
class LaunchView(LtiLaunchBaseView):
    """The platform's signed launch: state, nonce (once only), signature, deployment, then
    a resource link opens the lab and a deep-linking request the lab picker."""

    def post(self, request, *args, **kwargs):
        request.session.clear()
        try:
            message_launch = DjangoMessageLaunch(
                request,
                DjangoToolConfig(),
                launch_data_storage=DjangoCacheDataStorage(),
                requests_session=DeadlineSession(),
            )
            message_launch.validate()
            body = message_launch.get_launch_data()
            if not nonce_use(
                issuer=body["iss"], nonce=body.get("nonce", ""), expires=body.get("exp")
            ):
                raise LtiException("nonce already used: a replayed launch")
            launch = LtiLaunch(message_launch)
            sync_data_from_launch(launch)
        except LtiException as error:
            return refused(request, error)
        if not launch.deployment.is_active:
            return self.handle_inactive_deployment(request, launch)
        try:
            if launch.is_resource_launch:
                return self.handle_resource_launch(request, launch)
            if launch.is_deep_link_launch:
                return self.handle_deep_linking_launch(request, launch)
        except LaunchError as error:
            return render(request, "lti/refused.html", {"message": str(error)}, status=400)
        return refused(request, "This kind of LTI message is not supported.", status=400)

    def handle_resource_launch(self, request, lti_launch):
        arrival = lti_launch_arrive(launch=lti_launch)
        host = platform_origin(lti_launch.registration)
        if arrival.instructor:
            course = lti_course_for(
                context=lti_launch.context, lab=arrival.lab, instructor=arrival.user
            )
            jobs.queue("roster_sync_job", course.pk)
            token = signing.dumps(
                {"u": arrival.user.pk, "c": arrival.classroom.code, "n": secrets.token_urlsafe(16)},
                salt=BOARD_SALT,
            )
            response = render(
                request,
                "lti/instructor.html",
                {
                    "classroom": arrival.classroom,
                    "lab": arrival.lab,
                    "board_url": reverse("lti:board", args=[token]),
                    "preview_url": _embed_url(arrival, host),
                },
            )
            response._csp_config = _framable(host)
            response.xframe_options_exempt = True
            return response
        return HttpResponseRedirect(_embed_url(arrival, host))

    def handle_deep_linking_launch(self, request, lti_launch):
        if not lti_launch.membership.is_instructor and not lti_launch.membership.is_administrator:
            return refused(request, "Only an instructor picks a lab for a course.", status=403)
        token = signing.dumps(lti_launch.get_launch_id(), salt=DEEP_LINK_SALT)
        response = render(
            request,
            "lti/deep_link.html",
            {"labs": labs_all().values(), "token": token},
        )
        response._csp_config = _framable(platform_origin(lti_launch.registration))
        response.xframe_options_exempt = True
        return response


def _framable(host: str) -> dict:
    return {**settings.SECURE_CSP, "frame-ancestors": [host], "form-action": ["'self'", host]}


def _embed_url(arrival, host: str) -> str:
    token = embed_token_mint(learner=arrival.learner, host=host, source="lti")
    if arrival.step is not None:
        path = reverse("embed:step", args=[arrival.lab.slug, arrival.step.slug])
    else:
        path = reverse("embed:lab", args=[arrival.lab.slug])
    return f"{path}?{urlencode({PARAM: token})}"


@csrf_exempt  # framed by the platform (no cookie); the signed launch id is the credential
@require_POST
def deep_link_choose(request):
    """The instructor's pick: a resource link back to the platform, with a line item (the
    lab's score, one point per step) and the lab (and step) as custom parameters."""
    try:
        launch_id = signing.loads(
            request.POST.get("token", ""), salt=DEEP_LINK_SALT, max_age=DEEP_LINK_SECONDS
        )
        message_launch = DjangoMessageLaunch.from_cache(
            launch_id, request, DjangoToolConfig(), launch_data_storage=DjangoCacheDataStorage()
        )
    except signing.SignatureExpired:
        return refused(request, "expired")
    except (signing.BadSignature, LtiException) as error:
        return refused(request, f"Can't decode id_token: {error}")
    if message_launch is None or not message_launch.is_deep_link_launch():
        return refused(request, "This is not a deep-linking launch.", status=400)
    lab = labs_all().get(request.POST.get("lab", ""))
    if lab is None:
        return refused(request, "Pick one of the labs listed.", status=400)
    step = lab.step(request.POST.get("step", "")) if request.POST.get("step") else None
    if request.POST.get("step") and step is None:
        return refused(
            request,
            f"{lab.title} has no such step: pick one of its steps listed, or the whole lab.",
            status=400,
        )
    custom = {CUSTOM_LAB: lab.slug} | ({CUSTOM_STEP: step.slug} if step else {})
    title = f"{lab.title}: step {step.number}, {step.title}" if step else lab.title
    resource = (
        DeepLinkResource()
        .set_url(request.build_absolute_uri(reverse("lti:launch")))
        .set_title(title)
        .set_custom_params(custom)
        .set_lineitem(
            LineItem()
            .set_label(title)
            .set_score_maximum(len(lab.steps))
            .set_resource_id(lab.slug)
            .set_tag("learnlab")
        )
    )
    # A form that posts the signed answer to the platform's return URL (submitted by a static
    # script: the site's CSP runs no inline code).
    settings_claim = message_launch.get_launch_data()[DEEP_LINKING_SETTINGS]
    return_url = settings_claim["deep_link_return_url"]
    jwt_value = message_launch.get_deep_link().get_response_jwt([resource])
    response = render(
        request, "lti/deep_link_return.html", {"return_url": return_url, "jwt": jwt_value}
    )
    host = platform_origin(_registration_of(message_launch))
    response._csp_config = _framable(host)
    response._csp_config["form-action"] = ["'self'", _origin(return_url)]
    response.xframe_options_exempt = True
    return response


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _registration_of(message_launch):
    body = message_launch.get_launch_data()
    aud = body["aud"][0] if isinstance(body["aud"], list) else body["aud"]
    return LtiRegistration.objects.get(issuer=body["iss"], client_id=aud)


def _board_used(nonce: str) -> bool:
    return UsedNonce.objects.filter(issuer=BOARD_SALT, nonce=nonce).exists()


@require_http_methods(["GET", "POST"])
def board(request, token):
    """An instructor launched from their course: open the class board in a tab of its own
    (first-party, so LearnLab's sign-in cookie works), signed in as their LTI account.

    Opening the link (a GET, which any page can make a browser do) signs nobody in: it asks
    "Continue as <name>, instructor of <class>", and says so when the browser is signed in as
    another account; the button's POST (CSRF-checked) signs in, once per link."""
    try:
        data = signing.loads(token, salt=BOARD_SALT, max_age=BOARD_SECONDS)
    except signing.SignatureExpired:
        return refused(request, "expired")
    except signing.BadSignature as error:
        return refused(request, f"Can't decode id_token: {error}")
    user = (
        get_user_model()
        .objects.filter(pk=data.get("u"), lti_account__isnull=False)
        .select_related("lti_account__lti_user")
        .first()
    )
    if user is None or not data.get("n"):
        return refused(request, "Registration not found")
    if request.user.pk == user.pk:  # this browser is that instructor already
        return redirect("classroom:board", code=data["c"])
    used = render(request, "lti/refused.html", {"message": BOARD_USED, "detail": ""}, status=403)
    if request.method == "GET":
        if _board_used(data["n"]):
            return used
        classroom = Classroom.objects.filter(code=data.get("c")).first()
        context = {
            "name": display_name_of(user.lti_account.lti_user),
            "classroom": classroom.name if classroom else "your course's class",
            "other": request.user.get_username() if request.user.is_authenticated else "",
        }
        return render(request, "lti/board_confirm.html", context)
    # Single use: a link copied from the page (or left in a history) signs nobody in again.
    # The browser it signed in keeps using it (the instructor opens the board again).
    if not nonce_use(issuer=BOARD_SALT, nonce=data["n"], expires=int(time.time()) + BOARD_SECONDS):
        return used
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect("classroom:board", code=data["c"])
