from django.apps import AppConfig


class TerminalConfig(AppConfig):
    name = "learnlab.terminal"
