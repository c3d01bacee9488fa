"""Personal data detection in the admin: one row, changed under four-eyes like every
governance setting (the worker's streams pick a change up as they would a stream's)."""

from django import forms
from django.contrib import admin
from django.utils.text import capfirst

from streams.admin_base import FourEyesAdmin
from streams.privacy import detect
from streams.privacy.models import PrivacySettings

KIND_CHOICES = [(kind, capfirst(detect.KIND_WORDS[kind])) for kind in detect.KINDS]


class PrivacySettingsForm(forms.ModelForm):
    kinds = forms.MultipleChoiceField(
        label="What is looked for",
        choices=KIND_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Card numbers and card verification codes are always looked for "
        "(PCI DSS): they cannot be turned off.",
    )
    phone_regions = forms.CharField(
        label="Phone regions",
        required=False,
        help_text="Two-letter region codes, comma-separated (GB, US, DE): national phone "
        "numbers of these regions are recognized. Numbers in international form (+44 ...) "
        "are recognized whatever the region.",
    )
    national_ids = forms.MultipleChoiceField(
        label="National ids looked for",
        choices=[(name, words) for name, (words, _) in detect.NATIONAL_IDS.items()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    labelled = forms.MultipleChoiceField(
        label="Shown as a label only",
        choices=KIND_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Ticked kinds read as their label ([card], [IBAN]); the others are masked "
        "with what identifies nothing on its own (card ****1111, [IBAN DE**…3000]).",
    )

    class Meta:
        model = PrivacySettings
        fields = ["kinds", "phone_regions", "national_ids"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        settings = self.instance
        self.initial["kinds"] = sorted(set(settings.kinds or detect.KINDS) | detect.ALWAYS)
        self.initial["phone_regions"] = ", ".join(settings.phone_regions or [])
        self.initial["labelled"] = [k for k, v in (settings.styles or {}).items() if v == "label"]

    def clean_kinds(self):
        return sorted(set(self.cleaned_data["kinds"]) | detect.ALWAYS)

    def clean_phone_regions(self):
        text = self.cleaned_data["phone_regions"]
        return [part.strip().upper() for part in text.replace(";", ",").split(",") if part.strip()]

    def save(self, commit=True):
        self.instance.styles = dict.fromkeys(self.cleaned_data["labelled"], "label")
        return super().save(commit)


@admin.register(PrivacySettings)
class PrivacySettingsAdmin(FourEyesAdmin):
    """One row, never added twice nor deleted."""

    form = PrivacySettingsForm
    fieldsets = [
        (None, {"fields": ["kinds", "labelled", "phone_regions", "national_ids"]}),
    ]
    list_display = ["__str__", "what", "phone_region_list", "updated_at"]

    @admin.display(description="looked for")
    def what(self, obj):
        return ", ".join(detect.KIND_WORDS[k] for k in sorted(obj.config().kinds))

    @admin.display(description="phone regions")
    def phone_region_list(self, obj):
        return ", ".join(obj.phone_regions or []) or "none"

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not PrivacySettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        PrivacySettings.current()
        return super().changelist_view(request, extra_context)
