"""Every app's URLs, and the admin."""

from __future__ import annotations

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from studio import views

admin.site.site_header = "Dailies administration"
admin.site.site_title = "Dailies admin"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("", include("accounts.urls")),
    path("", include("billing.urls")),
    path("", include("generation.urls")),
    path("", include("storyboards.urls")),
    path("", include("characters.urls")),
    path("", include("api.urls")),
    path("admin/", admin.site.urls),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
