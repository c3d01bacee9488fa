"""The admin of quarantined frames (the insight list is the review app's)."""

from django.contrib import admin

from streams.admin_base import ReadOnlyAdmin, preformatted
from streams.ingest.models import QuarantinedFrame


@admin.register(QuarantinedFrame)
class QuarantinedFrameAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "stream", "reason", "encoding", "raw_size"]
    list_filter = ["stream", "encoding"]
    search_fields = ["reason", "=external_id"]
    ordering = ["-received_at"]
    list_select_related = ["stream"]
    show_full_result_count = False
    readonly_fields = [
        "stream",
        "received_at",
        "reason",
        "encoding",
        "external_id",
        "raw_size",
        "raw_text",
    ]
    exclude = ["raw"]

    @admin.display(description="raw frame")
    def raw_text(self, obj):
        return preformatted(obj.raw)
