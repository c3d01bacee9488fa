from django.apps import AppConfig


class StreamsConfig(AppConfig):
    name = "streams"
    verbose_name = "Genesys streams"

    def ready(self):
        from streams.config import signals  # noqa: F401  (connects the reconcile nudges)
