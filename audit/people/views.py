"""A person's own pages: their settings, their second factor, and choosing their password
from their invitation link."""

from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import PasswordResetConfirmView
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods

from audit.people import mfa
from audit.people.middleware import SESSION_TIME_ZONE
from audit.people.models import UserSettings
from audit.trail import record
from audit.trail.record import Origin


class AccountForm(forms.ModelForm):
    class Meta:
        model = UserSettings
        fields = ["time_zone"]


@require_http_methods(["GET", "POST"])
@login_required
def account(request):
    """A person's own settings: the time zone they read times in."""
    current = UserSettings.objects.filter(user=request.user).first()
    instance = current or UserSettings(user=request.user, time_zone=settings.TIME_ZONE)
    form = AccountForm(request.POST or None, instance=instance)
    saved = False
    if request.method == "POST" and form.is_valid():
        form.save()
        request.session[SESSION_TIME_ZONE] = form.instance.time_zone
        timezone.activate(form.instance.time_zone)
        saved = True
    return render(
        request,
        "audit/account.html",
        {
            "form": form,
            "saved": saved,
            "now": timezone.now(),
            "default_zone": settings.TIME_ZONE,
            "second_factor": mfa.authenticator(request.user),
            "by_password": mfa.by_password(request.session),
        },
    )


@require_http_methods(["GET", "POST"])
@login_required
def login_code(request):
    """The second step of signing in with a password: the code from the authenticator app."""
    if not mfa.pending(request):
        return HttpResponseRedirect(_next(request))
    wrong = ""
    if request.method == "POST":
        if mfa.check_code(request, request.POST.get("code", "")):
            _record(request, "security.second_factor")
            return HttpResponseRedirect(_next(request))
        tries = request.session.get(mfa.WRONG, 0)
        record.audit_record(
            action="security.second_factor_failed",
            actor=request.user,
            obj=request.user,
            object_repr=request.user.get_username(),
            after={"wrong_codes": tries},
            origin=Origin.from_request(request),
        )
        if tries >= mfa.MAX_WRONG:
            logout(request)
            return HttpResponseRedirect(f"{reverse('login')}?ended=signed-out")
        wrong = (
            "That code is not the one your app shows now (or was used already): give the "
            f"current one. {mfa.MAX_WRONG - tries} tries left."
        )
    return render(request, "audit/login_code.html", {"wrong": wrong, "next": _next(request)})


@require_http_methods(["GET", "POST"])
@login_required
def two_step(request):
    """Set up (or remove) the authenticator app that gives the second factor."""
    current = mfa.authenticator(request.user)
    problem, done = "", ""
    if request.method == "POST" and request.POST.get("action") == "remove" and current:
        if mfa.settings_require(request.user):
            problem = "Governance admins must keep a second factor: set up a new app instead."
        elif mfa.check_code(request, request.POST.get("code", "")):
            current.delete()
            _record(request, "security.second_factor_removed")
            current, done = None, "Your authenticator app is removed."
        else:
            problem = "That code is not the one your app shows now: nothing was removed."
    elif request.method == "POST":
        secret = request.session.get(SETUP_SECRET, "")
        if secret and mfa.enroll(request.user, secret, request.POST.get("code", "")):
            request.session.pop(SETUP_SECRET, None)
            request.session[mfa.PASSED] = True  # proven by the code just given
            _record(request, "security.second_factor_enabled")
            messages.success(request, "Your authenticator app is set up: each sign-in asks for it.")
            return HttpResponseRedirect(_next(request))
        problem = "That code does not match: check the app's clock and give the current code."
    context = {"current": current, "problem": problem, "done": done, "next": _next(request)}
    if current is None or request.GET.get("replace"):
        secret = request.session.get(SETUP_SECRET) or mfa.new_secret()
        request.session[SETUP_SECRET] = secret
        adapter = get_mfa_adapter()
        url = adapter.build_totp_url(request.user, secret)
        context.update(
            secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            qr=mark_safe(adapter.build_totp_svg(url)),  # noqa: S308 (generated, no outside text)
            required=mfa.must_enroll(request.user, request.session),
        )
    return render(request, "audit/two_step.html", context)


SETUP_SECRET = "second_factor_setup"  # noqa: S105 (a session key, not a secret)


TOTP = {"method": "authenticator app (TOTP)"}


def _record(request, action: str, *, user=None, after: dict = TOTP) -> None:
    """An audit entry of what a person did to their own account (the one signed in, or
    `user`)."""
    user = user or request.user
    record.audit_record(
        action=action,
        actor=user,
        obj=user,
        object_repr=user.get_username(),
        after=after,
        origin=Origin.from_request(request),
    )


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse("home")


class Welcome(PasswordResetConfirmView):
    """An invited person chooses their password from their invitation link (made by a
    governance admin, audit.people.admin); the link then stops working. An audit entry."""

    template_name = "audit/welcome.html"
    success_url = reverse_lazy("login")
    post_reset_login = False

    def form_valid(self, form):
        response = super().form_valid(form)
        _record(
            self.request,
            "security.password_chosen",
            user=form.user,
            after={"how": "their invitation link"},
        )
        messages.success(self.request, "Your password is set: sign in with it.")
        return response
