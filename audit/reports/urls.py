from django.urls import path

from audit.reports import views

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/health", views.dashboard_health, name="dashboard-health"),
    path("export/<slug:kind>.csv", views.export_csv, name="export-csv"),
    path("export/oversight/", views.oversight_csv, name="oversight-csv"),
    path("evidence/", views.evidence_page, name="evidence"),
    path(
        "evidence/<int:pack_id>/<slug:what>",
        views.evidence_download,
        name="evidence-download",
    ),
]
