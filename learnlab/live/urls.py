from django.urls import path

from learnlab.live import views

app_name = "live"
urlpatterns = [path("wait", views.wait, name="wait")]
