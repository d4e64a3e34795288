from django.urls import path

from learnlab.terminal import views

app_name = "terminal"
urlpatterns = [
    path("", views.index, name="index"),
    path("run", views.run, name="run"),
    path("clear", views.clear, name="clear"),
    path("complete", views.complete, name="complete"),
    path("files/", views.files, name="files"),
    path("files/edit", views.edit, name="edit"),
    path("files/delete", views.delete, name="delete"),
]
