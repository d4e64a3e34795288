from django.urls import path

from learnlab.labs import views

app_name = "labs"
urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:slug>/", views.detail, name="detail"),
    path("<slug:slug>/progress", views.progress, name="progress"),
    path("<slug:slug>/diagram", views.diagram, name="diagram"),
    path("<slug:slug>/steps/<slug:step>/check", views.check, name="check"),
    path("<slug:slug>/console/<slug:form>", views.console, name="console"),
    path("<slug:slug>/reset", views.reset, name="reset"),
    path("<slug:slug>/complete", views.complete, name="complete"),
]
