from __future__ import annotations

from django.urls import path

from characters import views

urlpatterns = [
    path("characters/", views.character_list, name="character_list"),
    path("characters/new/", views.character_new, name="character_new"),
    path("characters/lock-from-take/", views.character_lock_take, name="character_lock_take"),
    path("characters/names/", views.character_names, name="character_names"),
    path("characters/drift/", views.drift_threshold, name="drift_threshold"),
    path("characters/<int:character_id>/", views.character_detail, name="character_detail"),
    path(
        "characters/<int:character_id>/status/",
        views.character_status,
        name="character_status",
    ),
    path(
        "characters/<int:character_id>/delete/",
        views.character_delete,
        name="character_delete",
    ),
    path(
        "characters/<int:character_id>/retrain/",
        views.character_retrain,
        name="character_retrain",
    ),
    path(
        "characters/<int:character_id>/adapters/<int:adapter_id>/rollback/",
        views.adapter_rollback,
        name="adapter_rollback",
    ),
    path(
        "characters/<int:character_id>/adapters/<int:adapter_id>/cancel/",
        views.adapter_cancel,
        name="adapter_cancel",
    ),
    path(
        "characters/<int:character_id>/references/<int:reference_id>/",
        views.reference_image,
        name="reference_image",
    ),
]
