from django.apps import AppConfig


class LabsConfig(AppConfig):
    name = "learnlab.labs"

    def ready(self):
        # AWS errors in the in-page terminal feed practice (terminal/signals.py)
        from learnlab.labs import terminal_mistakes  # noqa: F401
