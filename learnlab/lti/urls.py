from django.urls import path

from learnlab.lti import views
from learnlab.lti.admin import site

app_name = "lti"
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("login/<uuid:registration_uuid>/", views.LoginView.as_view(), name="login_for"),
    path("launch/", views.LaunchView.as_view(), name="launch"),
    path("jwks.json", views.jwks, name="jwks"),
    path("deep-link/", views.deep_link_choose, name="deep_link"),
    path("board/<str:token>", views.board, name="board"),
    path("admin/", site.urls),
]
