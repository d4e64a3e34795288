from django.apps import AppConfig


class LabsConfig(AppConfig):
    name = "learnlab.labs"
