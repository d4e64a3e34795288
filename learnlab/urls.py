from django.urls import include, path, re_path

from learnlab.imds.views import metadata
from learnlab.site import views

# AWS API calls to /aws are answered by learnlab.gate.middleware.GateMiddleware.

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("sandbox/", include("learnlab.sandbox.urls")),
    path("sandbox/instances/", include("learnlab.imds.urls")),
    path("lab/", include("learnlab.labs.urls")),
    path("quiz/", include("learnlab.quiz.urls")),
    path("terminal/", include("learnlab.terminal.urls")),
    path("accounts/", include("learnlab.learners.urls")),
    re_path(r"^imds/(?P<token>[\w-]{16,64})(?P<path>/.*)?$", metadata, name="imds"),
    path("class/", include("learnlab.classroom.urls")),
]
