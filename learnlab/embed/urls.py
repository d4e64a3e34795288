from django.urls import path

from learnlab.embed import views

app_name = "embed"
urlpatterns = [
    path("demo-host", views.demo_host, name="demo_host"),
    path("<slug:slug>/", views.embed_lab, name="lab"),
    path("<slug:slug>/<slug:step>/", views.embed_lab, name="step"),
    path("<slug:slug>/<slug:step>/check", views.embed_check, name="check"),
]
