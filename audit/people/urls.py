from django.urls import path

from audit.people import views

urlpatterns = [
    path("account/", views.account, name="account"),
]
