from django.urls import path

from learnlab.imds import views

app_name = "imds"
urlpatterns = [
    path("instances/<str:instance_id>/", views.instance_detail, name="instance"),
    path("instances/<str:instance_id>/credentials", views.instance_credentials, name="credentials"),
    path("instances/<str:instance_id>/demo", views.instance_demo, name="demo"),
]
