from django.apps import AppConfig


class ImdsConfig(AppConfig):
    name = "learnlab.imds"
