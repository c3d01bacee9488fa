from django.urls import path

from audit import knowledge_views, oversight_views, views

urlpatterns = [
    path("review/", views.review, name="review"),
    path(
        "review/items/<slug:kind>/<int:item_id>/",
        views.review_item_context,
        name="review-item-context",
    ),
    path("review/progress", views.review_progress, name="review-progress"),
    path("review/views", views.review_views, name="review-views"),
    path("review/views/<int:view_id>/delete", views.review_view_delete, name="review-view-delete"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/health", views.dashboard_health, name="dashboard-health"),
    path("export/<slug:kind>.csv", views.export_csv, name="export-csv"),
    path("account/", views.account, name="account"),
    path("audit/", views.audit_trail, name="audit-trail"),
    path("audit/verify/", views.audit_verify, name="audit-verify"),
    path("audit/export/<slug:fmt>/", views.audit_export, name="audit-export"),
    path(
        "audit/export/<slug:fmt>/manifest/",
        views.audit_export_manifest,
        name="audit-export-manifest",
    ),
    path("second-review/", oversight_views.second_review, name="second-review"),
    path(
        "second-review/<int:review_id>/decide",
        oversight_views.second_review_decide,
        name="second-review-decide",
    ),
    path(
        "second-review/<int:review_id>/release",
        oversight_views.second_review_release,
        name="second-review-release",
    ),
    path("adjudication/", oversight_views.adjudication, name="adjudication"),
    path("adjudication/<int:review_id>/rule", oversight_views.adjudicate, name="adjudicate"),
    path("export/oversight/", oversight_views.oversight_csv, name="oversight-csv"),
    path("knowledge/", knowledge_views.console, name="knowledge-console"),
    path("api/knowledge/search", knowledge_views.api_search, name="knowledge-api-search"),
]
