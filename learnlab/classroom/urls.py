from django.urls import path

from learnlab.classroom import views

app_name = "classroom"
urlpatterns = [
    path("", views.join, name="join"),
    path("join/<str:code>", views.join, name="join_code"),
    path("teach/", views.teach, name="teach"),
    path("teach/<str:code>/", views.board, name="board"),
    path("teach/<str:code>/grid", views.board_rows, name="grid"),
    path("teach/<str:code>/qr.svg", views.qr, name="qr"),
    path("live", views.live, name="live"),
    path("stuck", views.stuck, name="stuck"),
    path("announcement/dismiss", views.dismiss, name="dismiss"),
    path("teach/<str:code>/learners/<int:membership_id>/", views.learner_view, name="learner"),
    path("teach/<str:code>/learners/<int:membership_id>/reset", views.learner_reset, name="reset"),
    path(
        "teach/<str:code>/learners/<int:membership_id>/rewind", views.learner_rewind, name="rewind"
    ),
    path("teach/<str:code>/resets/<int:reset_id>/undo", views.learner_reset_undo, name="undo"),
    path("teach/<str:code>/hints", views.reveal_hint, name="hint"),
    path("teach/<str:code>/announcement", views.announce, name="announce"),
    path("teach/<str:code>/clock", views.clock, name="clock"),
    path("teach/<str:code>/close", views.close, name="close"),
    path("teach/<str:code>/labs", views.labs, name="labs"),
    path("teach/<str:code>/export.csv", views.export, name="export"),
]
