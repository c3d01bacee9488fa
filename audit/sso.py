"""Single sign-on with the company's identity provider (OpenID Connect, django-allauth).

A person's role follows the groups claim (OIDC_GROUPS_CLAIM) at every sign-in: the groups
in OIDC_OFFICER_GROUPS, OIDC_ADMIN_GROUPS and OIDC_AUDITOR_GROUPS map to the three roles,
and a change at the provider takes effect the next time the person signs in. Someone in
none of them is refused, with a page that says why, and the refusal is an audit entry.
Accounts are created at the first sign-in, with no local password; nobody signs up here.
"""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.shortcuts import render

from audit.services import Origin, audit_record


def claimed_groups(data: dict) -> set[str]:
    """The groups the provider says the person is in (from the user info, else the ID
    token); a single string counts as one group."""
    name = settings.OIDC_GROUPS_CLAIM
    for source in (data.get("userinfo"), data.get("id_token"), data):
        if isinstance(source, dict) and name in source:
            value = source[name]
            if isinstance(value, str):
                return {value}
            if isinstance(value, list):
                return {str(item) for item in value}
    return set()


def roles_for(groups: set[str]) -> list[str]:
    return sorted(
        role for role, mapped in settings.OIDC_ROLE_GROUPS.items() if groups & set(mapped)
    )


def apply_roles(user, roles: list[str], *, request) -> None:
    """Give `user` exactly `roles` (the roles' groups; other groups stay), recording a change."""
    managed = set(settings.OIDC_ROLE_GROUPS)
    before = sorted(user.groups.filter(name__in=managed).values_list("name", flat=True))
    if before == roles and user.is_staff:
        return
    with transaction.atomic():
        user.is_staff = True  # every role works in the admin too
        user.save(update_fields=["is_staff"])
        user.groups.remove(*Group.objects.filter(name__in=managed - set(roles)))
        user.groups.add(*Group.objects.filter(name__in=roles))
        audit_record(
            action="security.roles_from_sso",
            actor_label=settings.OIDC_NAME,
            obj=user,
            object_repr=user.get_username(),
            before={"roles": before},
            after={"roles": roles},
            origin=Origin.from_request(request),
        )


class NoSignupAdapter(DefaultAccountAdapter):
    """No local sign-up: accounts come from an admin, or from the identity provider."""

    def is_open_for_signup(self, request):
        return False


class RoleAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin):
        return True

    def pre_social_login(self, request, sociallogin):
        data = sociallogin.account.extra_data or {}
        groups = claimed_groups(data)
        roles = roles_for(groups)
        username = str(sociallogin.account.get_provider_account().to_str() or "")[:150]
        if not roles:
            audit_record(
                action="security.sign_in_failed",
                actor_label=settings.OIDC_NAME,
                object_type="auth.user",
                object_id=username[:64],
                object_repr=username or "(no user name)",
                after={
                    "username": username,
                    "reason": "in none of the groups mapped to a role",
                    "groups": sorted(groups)[:50],
                    "claim": settings.OIDC_GROUPS_CLAIM,
                },
                origin=Origin.from_request(request),
            )
            raise ImmediateHttpResponse(no_role_page(request, username))
        request.assistgov_sso_roles = roles
        if sociallogin.is_existing:
            apply_roles(sociallogin.user, roles, request=request)

    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form)
        apply_roles(user, getattr(request, "assistgov_sso_roles", []), request=request)
        return user


def no_role_page(request, username: str):
    mapped = ", ".join(
        f"{role}: {' or '.join(groups)}" for role, groups in settings.OIDC_ROLE_GROUPS.items()
    )
    context = {
        "heading": "No role for this account",
        "message": (
            f"{settings.OIDC_NAME} signed you in as {username or 'someone'}, but you are in "
            "none of the groups that give a role here, so you cannot use assistgov."
        ),
        "detail": f"Ask your identity team to add you to one of them ({mapped}), then sign in "
        "again.",
        "advice": "advice_sso",
    }
    return render(request, "error.html", context, status=403)
