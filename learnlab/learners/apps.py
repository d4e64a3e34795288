from django.apps import AppConfig


class LearnersConfig(AppConfig):
    name = "learnlab.learners"
