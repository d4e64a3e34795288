from django.urls import include, path, re_path

from learnlab.accounts import views as accounts_views
from learnlab.imds.views import metadata
from learnlab.site import views

# AWS API calls to /aws are answered by learnlab.gate.middleware.GateMiddleware.

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("sandbox/", include("learnlab.site.sandbox_urls")),
    path("sandbox/", include("learnlab.imds.urls")),  # an instance's credentials page
    path("lab/", include("learnlab.labs.urls")),
    path("quiz/", include("learnlab.quiz.urls")),
    path("terminal/", include("learnlab.terminal.urls")),
    path("accounts/", include("learnlab.accounts.urls")),
    re_path(r"^imds/(?P<token>[\w-]{16,64})(?P<path>/.*)?$", metadata, name="imds"),
    # The instructor sign-up makes an account, so accounts answers it at the class's address.
    path("class/teach/signup", accounts_views.instructor_signup, name="instructor_signup"),
    path("class/", include("learnlab.classroom.urls")),
    path("explain/", include("learnlab.explain.urls")),  # denial traces, chain, errors
    path("embed/", include("learnlab.embed.urls")),  # labs in other sites' iframes
    path("lti/", include("learnlab.lti.urls")),  # LTI 1.3: login, launch, JWKS, deep links
    path("live/", include("learnlab.live.urls")),  # runserver's wait; site/web.py holds it
]
