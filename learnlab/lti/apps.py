from django.apps import AppConfig


class LtiConfig(AppConfig):
    name = "learnlab.lti"
    label = "lti"
    verbose_name = "LTI 1.3 and learning records"

    def ready(self):
        from learnlab.lti import receivers

        receivers.connect()
