"""Third-party apps under the names people read in the admin."""

from axes.apps import AppConfig as AxesAppConfig


class SignInThrottlingConfig(AxesAppConfig):
    """django-axes: failed sign-ins and lock-outs (its admin section was "AXES")."""

    verbose_name = "Sign-in lock-outs"
