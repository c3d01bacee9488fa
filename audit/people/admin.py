"""People in the admin: sign-in lock-outs (unlocking is audited); the parts of allauth that
the environment configures have no page."""

from allauth.mfa.models import Authenticator
from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.models import AccessAttempt
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.http import urlsafe_base64_encode

from audit.people.models import Person
from audit.trail import record
from audit.trail.models import AuditEntry
from audit.trail.record import Origin
from streams.admin_base import FourEyesAdmin
from streams.config import changes

# How long an invitation link works (Django's PASSWORD_RESET_TIMEOUT, in days).
INVITATION_DAYS = round(settings.PASSWORD_RESET_TIMEOUT / 86400)


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


class RoleFilter(admin.RelatedFieldListFilter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "role"


class ActiveFilter(admin.BooleanFieldListFilter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "whether they may sign in"


@admin.register(Person)
class PersonAdmin(FourEyesAdmin):
    """Who holds which role and may sign in, for governance admins: inviting a person, a
    change of roles or of activation is a change request a second admin accepts. Nobody
    sets another person's password: an invited person chooses theirs from an invitation
    link an admin makes for them (an audit entry), or signs in with single sign-on."""

    list_display = ["username", "full_name", "roles", "is_active", "last_sign_in", "sign_in"]
    list_filter = [("groups", RoleFilter), ("is_active", ActiveFilter)]
    search_fields = ["username", "first_name", "last_name", "email"]
    fields = [
        "username",
        "first_name",
        "last_name",
        "email",
        "is_active",
        "groups",
        "invitation",
        "last_login",
        "date_joined",
    ]
    add_fields = ["username", "first_name", "last_name", "email", "groups"]
    readonly_fields = ["invitation", "last_login", "date_joined"]
    ordering = ["username"]

    def get_queryset(self, request):
        last_method = (
            # Through the trail's (object_type, object_id) index: a person's own entries.
            AuditEntry.objects.filter(
                object_type="auth.user", object_id=OuterRef("username"), action="security.sign_in"
            )
            .order_by("-id")
            .values("after__method")[:1]
        )
        return (
            super()
            .get_queryset(request)
            .prefetch_related("groups")
            .annotate(
                last_method=Subquery(last_method),
                two_step=Exists(Authenticator.objects.filter(user_id=OuterRef("pk"))),
            )
        )

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.fields

    def get_fieldsets(self, request, obj=None):
        if obj is not None:
            return super().get_fieldsets(request, obj)
        how = (
            "Once a second governance admin accepts the invitation, make their invitation "
            "link on their page and give it to them: they choose their own password with it."
            if changes.four_eyes_on()
            else "Then make their invitation link on their page and give it to them: they "
            "choose their own password with it."
        )
        return [(None, {"fields": self.add_fields, "description": how})]

    def add_view(self, request, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "title": "Invite a person"}
        return super().add_view(request, form_url, extra_context)

    def get_readonly_fields(self, request, obj=None):
        # A person's name is what the trail knows them by: set once, when invited.
        return ["username", *self.readonly_fields] if obj is not None else []

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups":
            kwargs["widget"] = forms.CheckboxSelectMultiple
            kwargs["label"] = "Roles"
            kwargs["help_text"] = (
                "With single sign-on, a person's roles follow their groups at the "
                "identity provider, which overrides what is set here at their next sign-in."
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None):
        return False  # made inactive instead: their decisions name them

    def get_urls(self):
        own = [
            path(
                "<path:object_id>/invitation/",
                self.admin_site.admin_view(self.invitation_view),
                name="audit_person_invitation",
            )
        ]
        return own + super().get_urls()

    @admin.display(description="name")
    def full_name(self, obj):
        return obj.get_full_name() or "-"

    @admin.display(description="roles")
    def roles(self, obj):
        return ", ".join(group.name for group in obj.groups.all()) or "none"

    @admin.display(description="last sign-in", ordering="last_login")
    def last_sign_in(self, obj):
        if obj.last_login is None:
            return "invited, not signed in yet" if obj.invited else "never"
        return date_format(timezone.localtime(obj.last_login), "DATETIME_FORMAT")

    @admin.display(description="signs in with")
    def sign_in(self, obj):
        """How they last signed in, and their second factor."""
        method = getattr(obj, "last_method", None) or (
            "their invitation link" if obj.invited else "-"
        )
        if getattr(obj, "two_step", False):
            method += " and an authenticator app"
        return method

    @admin.display(description="invitation")
    def invitation(self, obj):
        if not obj.invited:
            return "Not needed: they have a password or have signed in."
        url = reverse("admin:audit_person_invitation", args=[obj.pk])
        return format_html(
            '<a href="{}">Make their invitation link</a> (it lets them choose a password once, '
            "within {} days)",
            url,
            INVITATION_DAYS,
        )

    def invitation_view(self, request, object_id):
        """The link an invited person chooses their password from: made on request, each
        time an audit entry (it is a credential), valid once and for INVITATION_DAYS."""
        person = self.get_object(request, object_id)
        if person is None or not self.has_change_permission(request, person):
            raise PermissionDenied
        if not person.invited:
            messages.info(request, f"{person} needs no invitation: they can sign in already.")
            return redirect("admin:audit_person_change", person.pk)
        if request.method != "POST":
            context = {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "person": person,
                "title": f"Invitation for {person}",
                "days": INVITATION_DAYS,
            }
            return TemplateResponse(request, "admin/audit/person/invitation.html", context)
        uid = urlsafe_base64_encode(force_bytes(person.pk))
        token = default_token_generator.make_token(person)
        link = request.build_absolute_uri(reverse("welcome", args=[uid, token]))
        record.audit_record(
            action="person.invitation",
            actor=request.user,
            obj=person,
            object_repr=person.get_username(),
            after={"valid_for_days": INVITATION_DAYS},
            origin=Origin.from_request(request),
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "person": person,
            "title": f"Invitation for {person}",
            "days": INVITATION_DAYS,
            "link": link,
        }
        return TemplateResponse(request, "admin/audit/person/invitation.html", context)
