from django.urls import path

from audit.oversight import views

urlpatterns = [
    path("second-review/", views.second_review, name="second-review"),
    path(
        "second-review/<int:review_id>/decide",
        views.second_review_decide,
        name="second-review-decide",
    ),
    path(
        "second-review/<int:review_id>/release",
        views.second_review_release,
        name="second-review-release",
    ),
    path("adjudication/", views.adjudication, name="adjudication"),
    path("adjudication/<int:review_id>/rule", views.adjudicate, name="adjudicate"),
]
