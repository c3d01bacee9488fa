from django.urls import path

from audit.trail import views

urlpatterns = [
    path("audit/", views.audit_trail, name="audit-trail"),
    path("audit/verify/", views.audit_verify, name="audit-verify"),
    path("audit/verify_export.py", views.audit_verifier, name="audit-verifier"),
    path("audit/export/<slug:fmt>/", views.audit_export, name="audit-export"),
    path(
        "audit/export/<slug:fmt>/manifest/",
        views.audit_export_manifest,
        name="audit-export-manifest",
    ),
]
