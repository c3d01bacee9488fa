from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from streams import views as stream_views

admin.site.site_header = "assistgov"
admin.site.site_title = "assistgov"
admin.site.index_title = "Governance console"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="review", permanent=False), name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("audit.urls")),
    path("admin/", admin.site.urls),
    path("healthz", stream_views.healthz, name="healthz"),
    path("readyz", stream_views.readyz, name="readyz"),
    path("metrics", stream_views.metrics, name="metrics"),
]

handler403 = "assistgov.errors.permission_denied"
handler404 = "assistgov.errors.page_not_found"
handler500 = "assistgov.errors.server_error"
