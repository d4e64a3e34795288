from django.urls import path

from learnlab.embed import views

app_name = "embed"
urlpatterns = [
    path("demo-host", views.demo_host, name="demo_host"),
    # the embedded page's requests to the lab page's views, by its launch token (relay.py)
    path("relay/<path:rest>", views.embed_relay, name="relay"),
    path("<slug:slug>/", views.embed_lab, name="lab"),
    path("<slug:slug>/<slug:step>/", views.embed_lab, name="step"),
    path("<slug:slug>/<slug:step>/check", views.embed_check, name="check"),
]
