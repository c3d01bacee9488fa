"""The admin of knowledge sources and knowledge streams."""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from streams.admin_base import FourEyesAdmin, LabelledTabularInline, LinesField
from streams.knowledge.figures import knowledge_metrics
from streams.knowledge.models import KnowledgeSource, KnowledgeStream, KnowledgeStreamSource


@admin.register(KnowledgeSource)
class KnowledgeSourceAdmin(FourEyesAdmin):
    list_display = ["name", "knowledge_base_id", "enabled"]
    list_filter = ["enabled"]
    search_fields = ["name", "=knowledge_base_id"]


class KnowledgeStreamSourceInline(LabelledTabularInline):
    model = KnowledgeStreamSource
    extra = 1
    autocomplete_fields = ["source"]


class KnowledgeStreamForm(forms.ModelForm):
    auto_query_types = LinesField(
        label="Query automatically for insight types",
        required=False,
        help_text="One insight type per line (knowledge_recommendation, say): each new insight "
        "of these types is searched with its text, and the answer joins the review queue. "
        "Empty: no automatic queries.",
    )

    class Meta:
        model = KnowledgeStream
        fields = [
            "name",
            "connection",
            "enabled",
            "confidence_threshold",
            "freshness_days",
            "max_results",
            "language",
            "max_in_flight",
            "query_timeout_seconds",
            "cache_ttl_seconds",
            "auto_query_types",
            "send_verdicts",
        ]


@admin.register(KnowledgeStream)
class KnowledgeStreamAdmin(FourEyesAdmin):
    form = KnowledgeStreamForm
    inlines = [KnowledgeStreamSourceInline]
    list_display = ["name", "connection", "enabled", "state", "confidence_threshold"]
    list_filter = ["enabled", "connection", "state"]
    search_fields = ["name"]
    readonly_fields = ["state", "state_detail", "state_changed_at", "figures"]
    fieldsets = [
        (None, {"fields": ["name", "connection", "enabled"]}),
        (
            "What gets through",
            {"fields": ["confidence_threshold", "freshness_days", "max_results", "language"]},
        ),
        ("Load", {"fields": ["max_in_flight", "query_timeout_seconds", "cache_ttl_seconds"]}),
        ("Automatic queries", {"fields": ["auto_query_types"]}),
        ("Genesys feedback", {"fields": ["send_verdicts"]}),
        ("Status", {"fields": ["state", "state_detail", "state_changed_at", "figures"]}),
    ]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if not form.instance.source_links.exists():
            messages.warning(
                request,
                f"Knowledge stream {form.instance.name} has no knowledge source: it refuses "
                "queries until one is added.",
            )

    @admin.display(description="figures")
    def figures(self, obj):
        if not obj.pk:
            return "-"
        figures = knowledge_metrics(obj.pk)
        rows = [
            ("Queries", figures["queries"]),
            ("Answered", figures["answered"]),
            ("Timed out", figures["timed_out"]),
            ("Errors", figures["errors"]),
            ("Latency p50", _ms(figures["latency_p50_ms"])),
            ("Latency p95", _ms(figures["latency_p95_ms"])),
            ("Validated / returned", _percent(figures["validated_ratio"])),
            ("Cache hits", _percent(figures["cache_hit_ratio"])),
        ]
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
        )


def _ms(value):
    return "-" if value is None else f"{value:.1f} ms"


def _percent(value):
    return "-" if value is None else f"{value:.0%}"
