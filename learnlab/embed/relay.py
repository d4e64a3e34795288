"""The embedded page's requests to the lab page's own views, authenticated by the launch token.

An embedded lab (templates/embed/lab.html) carries the lab page's terminal, console forms and an
instance's credentials panel, rendered from the same partials and answered by the same views
(one way to do a step). In a cross-site iframe neither the session cookie nor the CSRF cookie is
sent (``SameSite=Lax``; third-party cookies are blocked anyway), so the page's script (embed.js)
sends each of its requests to LearnLab through the relay, ``/embed/relay/<the view's path>``,
with the launch token in the ``X-LearnLab-Embed`` header and no cookie.

The relay answers only for the views named in EMBEDDABLE. It makes the token's learner the
request's learner, as the view sees them through ``learner_from_request`` (a per-request session
holding the learner, or the LTI learner's user; nothing is saved and no cookie is set), and the
token stands in for Django's cookie-based CSRF check, as for embed's Check: a page on another
site can neither read the token (it lives in the frame, another origin) nor make the browser add
the header (a custom header needs a CORS grant that LearnLab never gives), and the ``Origin``
must be LearnLab's own. Every other view keeps Django's CSRF check as it is.

Each answer carries a fresh token (``X-LearnLab-Embed-Token``), so a learner who keeps working
keeps their sandbox past LEARNLAB_EMBED_TOKEN_SECONDS. So an answer is the learner's alone: it is
``Cache-Control: private, no-store`` and varies on the token header, it sets no cookie (no CSRF
cookie, no messages cookie: a relayed request's messages are dropped, the htmx answer shows the
outcome), and it never redirects out of the relay: every relayed request is an htmx one, as the
frame's own are, and a 3xx answer to anywhere but ``/embed/`` is refused, saying so.
"""

from django.contrib.auth.models import AnonymousUser
from django.contrib.messages.storage.base import BaseStorage
from django.utils.cache import patch_cache_control, patch_vary_headers

from learnlab.embed.tokens import HEADER, EmbedLaunch, origin_normalize
from learnlab.learners.selectors import SESSION_KEY

FRESH_HEADER = "X-LearnLab-Embed-Token"  # each answer's fresh token
REFUSED_HEADER = "X-LearnLab-Embed-Refused"  # set on a refusal, whose body says why

# The lab page's views an embedded lab uses: the terminal (run, clear, completion), the console
# forms (fields and posts), the steps' progress and an instance's live credentials panel.
EMBEDDABLE = frozenset(
    {
        "terminal:run",
        "terminal:clear",
        "terminal:complete",
        "labs:console",
        "labs:progress",
        "imds:credentials",
    }
)


class LaunchSession(dict):
    """The session of a token-authenticated request: the token's learner and whatever a view
    notes for this one request, never saved (SessionMiddleware leaves an object without
    ``accessed`` alone: no session row, no cookie)."""

    session_key = None


class LaunchMessages(BaseStorage):
    """The messages of a token-authenticated request: none to read, none kept (a messages
    cookie would be set on a frame that never sends it back)."""

    def _get(self, *args, **kwargs):
        return [], True

    def _store(self, messages, response, *args, **kwargs):
        return []


def same_origin(request) -> bool:
    """A request from LearnLab's own page: no Origin (a same-origin GET, or older browsers on
    same-origin POSTs) or ours."""
    origin = request.headers.get("Origin")
    return origin is None or origin_normalize(origin) == origin_normalize(
        request.build_absolute_uri("/")
    )


def act_as_launch(request, launch: EmbedLaunch) -> None:
    """Make ``launch``'s learner this request's learner, for ``learner_from_request``."""
    learner = launch.learner
    request.user = learner.user if learner.user_id else AnonymousUser()
    request.session = LaunchSession({SESSION_KEY: str(learner.pk)})
    request._messages = LaunchMessages(request)
    request.embed_launch = launch
    # An htmx request, as the frame's own are (django-htmx reads the header): the views answer
    # with their partials, never a redirect to a full page outside the relay.
    request.META["HTTP_HX_REQUEST"] = "true"
    request.__dict__.pop("headers", None)  # HttpRequest.headers is cached from META


def relay_answer_seal(request, response) -> None:
    """What every relayed answer is: the learner's alone (never stored by a shared cache, it
    varies on the token header) and cookie-free (the CSRF cookie a rendered form asks for is
    not set: the relay's token stands in for it)."""
    patch_cache_control(response, private=True, no_store=True)
    patch_vary_headers(response, [HEADER])
    response.cookies.clear()
    request.META["CSRF_COOKIE_NEEDS_UPDATE"] = False  # CsrfViewMiddleware sets none
