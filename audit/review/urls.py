from django.urls import path

from audit.review import knowledge, views

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
    path("knowledge/", knowledge.console, name="knowledge-console"),
    path("api/knowledge/search", knowledge.api_search, name="knowledge-api-search"),
]
