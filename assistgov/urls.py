from allauth.socialaccount import views as social_views
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, reverse
from django.views.generic import RedirectView

from audit.people import sso
from streams import views as stream_views

admin.site.site_header = "assistgov"
admin.site.site_title = "assistgov"
admin.site.index_title = "Governance console"


class LoginView(auth_views.LoginView):
    """Local passwords and, when OIDC_ISSUER is set, the company's identity provider."""

    def get_context_data(self, **kwargs):
        from audit.people.sessions import ended_words

        ended = self.request.GET.get("ended", "")
        return {
            **super().get_context_data(**kwargs),
            "ended": ended_words(ended) if ended in ("idle", "lifetime", "signed-out") else "",
            "sso_name": settings.OIDC_NAME if settings.OIDC_ISSUER else "",
            "sso_url": reverse(
                "openid_connect_login", kwargs={"provider_id": settings.OIDC_PROVIDER_ID}
            ),
            "local_passwords": settings.LOCAL_PASSWORDS,
        }


to_login = RedirectView.as_view(pattern_name="login", permanent=False, query_string=True)

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="review", permanent=False), name="home"),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Single sign-on (django-allauth): the provider's sign-in and callback, and the pages
    # for a refused or cancelled sign-in. allauth's own password pages are not offered:
    # their names lead to the one login page.
    path("accounts/", include("allauth.socialaccount.providers.openid_connect.urls")),
    path(
        "accounts/3rdparty/login/cancelled/",
        social_views.login_cancelled,
        name="socialaccount_login_cancelled",
    ),
    path(
        "accounts/3rdparty/login/error/",
        social_views.login_error,
        name="socialaccount_login_error",
    ),
    path("accounts/3rdparty/signup/", sso.signup_refused, name="socialaccount_signup"),
    path("accounts/3rdparty/", to_login, name="socialaccount_connections"),
    path("accounts/login/", to_login, name="account_login"),
    path("accounts/signup/", to_login, name="account_signup"),
    path("accounts/inactive/", to_login, name="account_inactive"),
    path("", include("audit.urls")),
    *([] if settings.LOCAL_PASSWORDS else [path("admin/login/", to_login)]),
    path("admin/", admin.site.urls),
    path("healthz", stream_views.healthz, name="healthz"),
    path("readyz", stream_views.readyz, name="readyz"),
    path("metrics", stream_views.metrics, name="metrics"),
]

handler403 = "assistgov.errors.permission_denied"
handler404 = "assistgov.errors.page_not_found"
handler500 = "assistgov.errors.server_error"
