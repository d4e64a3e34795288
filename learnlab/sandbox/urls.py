from django.urls import path

from learnlab.sandbox import views

app_name = "sandbox"
urlpatterns = [
    path("", views.detail, name="detail"),
    path("panel", views.panel, name="panel"),
    path("env", views.env, name="env"),
    path("reset", views.reset, name="reset"),
    path("clock", views.clock, name="clock"),
]
