from django.urls import path

from learnlab.terminal import views

app_name = "terminal"
urlpatterns = [
    path("", views.index, name="index"),
    path("run", views.run, name="run"),
    path("clear", views.clear, name="clear"),
]
