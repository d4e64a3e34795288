from django.apps import AppConfig


class SiteConfig(AppConfig):
    name = "learnlab.site"
    label = "learnlab_site"
