from django.urls import path

from learnlab.site import sandbox_views as views

app_name = "sandbox"
urlpatterns = [
    path("", views.detail, name="detail"),
    path("panel", views.panel, name="panel"),
    path("reset", views.reset, name="reset"),
    path("clock", views.clock, name="clock"),
    path("env", views.env, name="env"),
    path("token", views.token, name="token"),
]
