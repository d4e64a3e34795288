from django.urls import include, path, re_path

from learnlab.gate.views import aws
from learnlab.site import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("sandbox/", include("learnlab.sandbox.urls")),
    re_path(r"^aws(?:/(?P<rest>.*))?$", aws, name="aws"),
    path("lab/", views.coming, {"section": "lab"}, name="lab"),
    path("quiz/", views.coming, {"section": "quiz"}, name="quiz"),
    path("class/", views.coming, {"section": "classroom"}, name="classroom"),
]
