from django.apps import AppConfig


class PerfConfig(AppConfig):
    """The benchmark and the soak: management commands that measure the product from the
    outside. The product never imports this package."""

    name = "perf"
    verbose_name = "Performance"
