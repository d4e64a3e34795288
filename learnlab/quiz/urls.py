from django.urls import path

from learnlab.quiz import views

app_name = "quiz"
urlpatterns = [
    path("", views.hub, name="hub"),
    path("practice/", views.practice, name="practice"),
    path("mastery/", views.mastery_view, name="mastery"),
    path("exam/", views.exam_new, name="exam_new"),
    path("exam/<int:exam_id>/", views.exam_overview, name="exam_overview"),
    path("exam/<int:exam_id>/<int:number>/", views.exam_question, name="exam_question"),
    path("exam/<int:exam_id>/timer/", views.exam_timer, name="exam_timer"),
    path("exam/<int:exam_id>/submit/", views.exam_finish, name="exam_submit"),
    path("exam/<int:exam_id>/review/", views.exam_review, name="exam_review"),
    path("exam/<int:exam_id>/retake/", views.exam_retake_missed, name="exam_retake"),
]
