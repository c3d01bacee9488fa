"""People in the admin: sign-in lock-outs (unlocking is audited); the parts of allauth that
the environment configures have no page."""

from allauth.mfa.models import Authenticator
from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.models import AccessAttempt
from django import forms
from django.contrib import admin, messages
from django.db import transaction

from audit.people.models import Person
from audit.trail import record
from audit.trail.record import Origin
from streams.admin_base import FourEyesAdmin


@admin.register(AccessAttempt)
class AccessAttemptAdmin(AxesAccessAttemptAdmin):
    """Failed sign-ins per user name and address (django-axes). Unlocking forgets them, so
    the pair may sign in again at once; each unlock is an audit entry."""

    actions = ["unlock_selected"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Unlock: forget these failed sign-ins", permissions=["delete"])
    def unlock_selected(self, request, queryset):
        attempts = list(queryset)
        for attempt in attempts:
            self.delete_model(request, attempt)
        self.message_user(
            request, f"{len(attempts)} user name(s) and address(es) unlocked.", messages.SUCCESS
        )

    def delete_model(self, request, obj):
        with transaction.atomic():
            before = {
                "username": obj.username,
                "client_address": obj.ip_address,
                "failures": obj.failures_since_start,
            }
            super().delete_model(request, obj)
            record.audit_record(
                action="security.unlock",
                actor=request.user,
                object_type="auth.user",
                object_id=(obj.username or "")[:64],
                object_repr=obj.username or "(no user name)",
                before=before,
                after=None,
                origin=Origin.from_request(request),
            )


def _unregister_what_the_environment_configures():
    """Single sign-on is configured from the environment (OIDC_*), and sign-in is by user
    name: allauth's sites, e-mail addresses, apps, tokens and linked accounts have no
    admin page."""
    from allauth.account.models import EmailAddress
    from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
    from django.contrib.sites.models import Site

    # Authenticators are set up and removed by their owner (the account page), never here.
    for model in (Site, EmailAddress, SocialApp, SocialToken, SocialAccount, Authenticator):
        if admin.site.is_registered(model):
            admin.site.unregister(model)


_unregister_what_the_environment_configures()


@admin.register(Person)
class PersonAdmin(FourEyesAdmin):
    """Who holds which role and may sign in, for governance admins: a change of roles or of
    activation is a change request a second admin accepts. Passwords and new accounts stay
    with superusers (or the identity provider)."""

    list_display = ["username", "full_name", "roles", "is_active", "last_login", "two_step"]
    list_filter = ["groups", "is_active"]
    search_fields = ["username", "first_name", "last_name", "email"]
    fields = [
        "username",
        "first_name",
        "last_name",
        "email",
        "is_active",
        "groups",
        "last_login",
        "date_joined",
    ]
    readonly_fields = ["username", "last_login", "date_joined"]
    ordering = ["username"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups":
            kwargs["widget"] = forms.CheckboxSelectMultiple
            kwargs["help_text"] = (
                "Roles. With single sign-on, a person's roles follow their groups at the "
                "identity provider, which overrides what is set here at their next sign-in."
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # made inactive instead: their decisions name them

    @admin.display(description="name")
    def full_name(self, obj):
        return obj.get_full_name() or "-"

    @admin.display(description="roles")
    def roles(self, obj):
        return ", ".join(group.name for group in obj.groups.all()) or "none"

    @admin.display(description="two-step sign-in")
    def two_step(self, obj):
        return "on" if Authenticator.objects.filter(user_id=obj.pk).exists() else "off"
