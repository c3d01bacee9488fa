from django.urls import path

from audit.privacy import views

urlpatterns = [
    path("privacy/", views.privacy, name="privacy"),
    path("privacy/subjects/", views.find, name="privacy-find"),
    path(
        "privacy/reveal/<kind>/<int:item_id>/",
        views.reveal_original,
        name="privacy-reveal",
    ),
]
