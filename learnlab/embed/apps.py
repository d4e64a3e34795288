from django.apps import AppConfig


class EmbedConfig(AppConfig):
    name = "learnlab.embed"
    label = "embed"
    verbose_name = "Embedding"
