from django.urls import path

from audit.people import views

urlpatterns = [
    path("account/", views.account, name="account"),
    path("account/two-step/", views.two_step, name="two-step"),
    path("login/code/", views.login_code, name="login-code"),
    path("account/welcome/<uidb64>/<token>/", views.Welcome.as_view(), name="welcome"),
]
