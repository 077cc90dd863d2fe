from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("chat.api.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("chat.web.urls")),
]

handler404 = "chat.api.errors.not_found"
handler500 = "chat.api.errors.server_error"
