from django.urls import path

from audit import views

urlpatterns = [
    path("review/", views.review, name="review"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/health", views.dashboard_health, name="dashboard-health"),
    path("export/<slug:kind>.csv", views.export_csv, name="export-csv"),
    path("audit/verify/", views.audit_verify, name="audit-verify"),
]
