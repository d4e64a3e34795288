from django.urls import include, path

from learnlab.site import views

# AWS API calls to /aws are answered by learnlab.gate.middleware.GateMiddleware.

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("sandbox/", include("learnlab.sandbox.urls")),
    path("lab/", views.coming, {"section": "lab"}, name="lab"),
    path("quiz/", include("learnlab.quiz.urls")),
    path("accounts/", include("learnlab.learners.urls")),
    path("class/", views.coming, {"section": "classroom"}, name="classroom"),
]
