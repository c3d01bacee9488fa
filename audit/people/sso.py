"""Single sign-on with the company's identity provider (OpenID Connect, django-allauth).

A person's roles follow the groups claim (OIDC_GROUPS_CLAIM): the groups in
OIDC_OFFICER_GROUPS, OIDC_ADMIN_GROUPS and OIDC_AUDITOR_GROUPS map to the three roles. They
are read at every sign-in and, where the provider grants a refresh token (the
`offline_access` scope), every OIDC_SYNC_SECONDS between sign-ins. Someone in none of the
groups, or whose grant the provider no longer honours, loses every role and every session
at once; the refusal and the change are audit entries.

Accounts are created at the first sign-in, with no local password; nobody signs up here.
A user name the provider gives is normalised (NFKC, case-folded) and refused when it could
pass for another (mixed scripts, confusable letters: admin2 spelt with a Cyrillic a)."""

import logging
import unicodedata

import httpx
from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from confusable_homoglyphs import confusables
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.shortcuts import render
from django.utils import timezone

from audit.people.models import SsoGrant
from audit.trail.periodic import every_period
from audit.trail.record import Origin, audit_record
from streams import crypto

logger = logging.getLogger(__name__)


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


def _roles_of(user) -> list[str]:
    managed = set(settings.OIDC_ROLE_GROUPS)
    return sorted(user.groups.filter(name__in=managed).values_list("name", flat=True))


def apply_roles(user, roles: list[str], *, origin: Origin, why: str = "") -> None:
    """Give `user` exactly `roles` (the roles' groups; other groups stay), recording a change;
    no role at all ends every session of theirs."""
    managed = set(settings.OIDC_ROLE_GROUPS)
    before = _roles_of(user)
    if before == roles and (user.is_staff or not roles):
        return
    with transaction.atomic():
        user.is_staff = bool(roles)  # every role works in the admin too
        fields = ["is_staff"]
        if not roles:
            # A new unusable password changes the session hash: every session ends.
            user.set_unusable_password()
            fields.append("password")
            SsoGrant.objects.filter(user=user).delete()
        user.save(update_fields=fields)
        user.groups.remove(*Group.objects.filter(name__in=managed - set(roles)))
        user.groups.add(*Group.objects.filter(name__in=roles))
        after = {"roles": roles}
        if not roles:
            after |= {"sessions": "ended", "why": why or "in none of the mapped groups"}
        audit_record(
            action="security.roles_from_sso",
            actor_label=settings.OIDC_NAME,
            obj=user,
            object_repr=user.get_username(),
            before={"roles": before},
            after=after,
            origin=origin,
        )


def remember_grant(user, sociallogin) -> None:
    """Keep the provider's refresh token (encrypted), if it gave one, for the schedule."""
    token = getattr(sociallogin, "token", None)
    refresh = getattr(token, "token_secret", "") if token is not None else ""
    if not refresh:
        return
    SsoGrant.objects.update_or_create(
        user=user, defaults={"refresh_token": crypto.encrypt(refresh), "checked_at": timezone.now()}
    )


def username_problem(username: str) -> str:
    """Why a user name the provider gives cannot be used here ("" when it can)."""
    if not username:
        return "the identity provider gave no user name"
    if confusables.is_mixed_script(username) or confusables.is_dangerous(username):
        return (
            f"the user name {username!r} mixes alphabets or has letters that pass for others, "
            "so it could be taken for someone else's"
        )
    return ""


def normalised(username: str) -> str:
    return unicodedata.normalize("NFKC", username).strip().casefold()


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
            self._refuse(request, sociallogin, username, groups)
        if not sociallogin.is_existing:
            problem = username_problem(username)
            if problem:
                self._refuse_name(request, username, problem)
        request.assistgov_sso_roles = roles
        if sociallogin.is_existing:
            apply_roles(sociallogin.user, roles, origin=Origin.from_request(request))
            remember_grant(sociallogin.user, sociallogin)

    def _refuse(self, request, sociallogin, username: str, groups: set[str]):
        origin = Origin.from_request(request)
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
            origin=origin,
        )
        if sociallogin.is_existing:  # someone who had roles: they go, and their sessions
            apply_roles(sociallogin.user, [], origin=origin)
        raise ImmediateHttpResponse(no_role_page(request, username))

    def _refuse_name(self, request, username: str, problem: str):
        audit_record(
            action="security.sign_in_failed",
            actor_label=settings.OIDC_NAME,
            object_type="auth.user",
            object_repr="(a user name that could pass for another)",
            after={"reason": problem},
            origin=Origin.from_request(request),
        )
        raise ImmediateHttpResponse(
            refusal_page(
                request,
                "This user name cannot be used",
                f"{settings.OIDC_NAME} signed you in, but {problem}.",
                "Ask your identity team to give your account a user name in one alphabet, "
                "then sign in again.",
            )
        )

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        user.username = normalised(user.username or "")
        return user

    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form)
        roles = getattr(request, "assistgov_sso_roles", [])
        apply_roles(user, roles, origin=Origin.from_request(request))
        remember_grant(user, sociallogin)
        return user


def no_role_page(request, username: str):
    mapped = ", ".join(
        f"{role}: {' or '.join(groups)}" for role, groups in settings.OIDC_ROLE_GROUPS.items()
    )
    return refusal_page(
        request,
        "No role for this account",
        f"{settings.OIDC_NAME} signed you in as {username or 'someone'}, but you are in "
        "none of the groups that give a role here, so you cannot use assistgov.",
        f"Ask your identity team to add you to one of them ({mapped}), then sign in again.",
    )


def refusal_page(request, heading: str, message: str, detail: str):
    context = {"heading": heading, "message": message, "detail": detail, "advice": "advice_sso"}
    return render(request, "error.html", context, status=403)


def signup_refused(request):
    """Where allauth sends a sign-in it could not turn into an account by itself (the
    provider's e-mail address is already an account's here): what happened and what to do,
    never a form (nobody signs up here)."""
    from allauth.socialaccount.internal.flows.signup import clear_pending_signup, get_pending_signup
    from django.shortcuts import redirect

    pending = get_pending_signup(request)
    if pending is None:
        return redirect("login")
    clear_pending_signup(request)
    username = str(pending.account.get_provider_account().to_str() or "")[:150]
    audit_record(
        action="security.sign_in_failed",
        actor_label=settings.OIDC_NAME,
        object_type="auth.user",
        object_id=username[:64],
        object_repr=username or "(no user name)",
        after={"username": username, "reason": "its e-mail address is an existing account's"},
        origin=Origin.from_request(request),
    )
    return refusal_page(
        request,
        "An account here already has your e-mail address",
        f"{settings.OIDC_NAME} signed you in as {username or 'someone'}, but a local account "
        "here has the same e-mail address, and the two are never joined by e-mail alone.",
        "Sign in with that local account's user name and password, or ask a governance admin "
        "to change its e-mail address or retire it; then sign in with "
        f"{settings.OIDC_NAME} again.",
    )


class ProviderUnreachable(Exception):
    pass


def _endpoints(http: httpx.Client) -> dict:
    url = settings.OIDC_ISSUER.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = http.get(url)
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ProviderUnreachable(f"{url}: {exc}") from None


def sync_from_provider() -> dict:
    """Ask the provider, for each person with a grant, which groups they are in now, and
    let their roles follow; returns counts of what happened."""
    counts = {"checked": 0, "changed": 0, "revoked": 0, "unreachable": 0}
    grants = list(SsoGrant.objects.select_related("user"))
    if not grants or not settings.OIDC_ISSUER:
        return counts
    app = settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"][0]
    with httpx.Client(timeout=15.0) as http:
        try:
            endpoints = _endpoints(http)
        except ProviderUnreachable as exc:
            logger.warning(
                "single sign-on: roles not checked, the provider is unreachable (%s)", exc
            )
            counts["unreachable"] = len(grants)
            return counts
        for grant in grants:
            counts[_check(http, endpoints, app, grant)] += 1
    return counts


def _check(http: httpx.Client, endpoints: dict, app: dict, grant: SsoGrant) -> str:
    user = grant.user
    origin = Origin()
    try:
        answer = http.post(
            endpoints["token_endpoint"],
            data={
                "grant_type": "refresh_token",
                "refresh_token": crypto.decrypt(grant.refresh_token),
            },
            auth=(app["client_id"], app["secret"]),
        )
    except httpx.HTTPError as exc:
        logger.warning("single sign-on: could not check %s's roles: %s", user, exc)
        return "unreachable"
    if answer.status_code in (400, 401):
        before = _roles_of(user)
        apply_roles(
            user, [], origin=origin, why="the identity provider no longer honours their sign-in"
        )
        return "revoked" if before else "checked"
    if answer.status_code != 200:
        logger.warning("single sign-on: the provider answered %s for %s", answer.status_code, user)
        return "unreachable"
    tokens = answer.json()
    claims = http.get(
        endpoints["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    ).json()
    roles = roles_for(claimed_groups({"userinfo": claims}))
    before = _roles_of(user)
    apply_roles(user, roles, origin=origin, why="in none of the mapped groups any more")
    if roles:
        grant.refresh_token = crypto.encrypt(
            tokens.get("refresh_token") or crypto.decrypt(grant.refresh_token)
        )
        grant.checked_at = timezone.now()
        grant.save(update_fields=["refresh_token", "checked_at"])
    if before == roles:
        return "checked"
    return "changed" if roles else "revoked"


async def sso_syncer(worker: str) -> None:
    """(A stream worker task.) Roles follow the provider every OIDC_SYNC_SECONDS."""
    if settings.OIDC_ISSUER:
        await every_period("sso-sync", settings.OIDC_SYNC_SECONDS, worker, _sync_logged)


def _sync_logged(stop) -> None:
    counts = sync_from_provider()
    if counts["changed"] or counts["revoked"]:
        logger.info(
            "single sign-on: %(checked)d checked, %(changed)d changed, %(revoked)d lost every role",
            counts,
        )
