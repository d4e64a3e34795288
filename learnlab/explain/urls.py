from django.urls import path

from learnlab.explain import views

app_name = "explain"

urlpatterns = [
    path("denials/<str:slug>", views.denial, name="denial"),
    path("instances/", views.instances, name="instances"),
    path("instances/<str:instance_id>", views.instance_chain, name="instance"),
    path("errors/<str:code>", views.error, name="error"),
]
