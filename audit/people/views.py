"""A person's own settings page."""

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from audit.people.middleware import SESSION_TIME_ZONE
from audit.people.models import UserSettings


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
        {"form": form, "saved": saved, "now": timezone.now(), "default_zone": settings.TIME_ZONE},
    )
