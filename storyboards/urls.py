from __future__ import annotations

from django.urls import path

from storyboards import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("projects/", views.dashboard, name="project_list"),
    path("projects/new/", views.project_create, name="project_create"),
    path("projects/<int:project_id>/", views.project_detail, name="project_detail"),
    path("projects/<int:project_id>/rename/", views.project_rename, name="project_rename"),
    path("projects/<int:project_id>/archive/", views.project_archive, name="project_archive"),
    path("projects/<int:project_id>/reorder/", views.project_reorder, name="project_reorder"),
    path("projects/<int:project_id>/format/", views.project_format, name="project_format"),
    path("projects/<int:project_id>/render/", views.storyboard_render, name="storyboard_render"),
    path("projects/<int:project_id>/export/", views.storyboard_export, name="storyboard_export"),
    path("exports/<int:export_id>/", views.export_status, name="export_status"),
    path("exports/<int:export_id>/<str:kind>/", views.export_download, name="export_download"),
    path("projects/<int:project_id>/shots/new/", views.shot_new, name="shot_new"),
    path("projects/<int:project_id>/shots/parse/", views.composer_parse, name="composer_parse"),
    path(
        "projects/<int:project_id>/shots/estimate/",
        views.composer_estimate,
        name="composer_estimate",
    ),
    path(
        "projects/<int:project_id>/shots/characters/",
        views.composer_characters,
        name="composer_characters",
    ),
    path("shots/<int:shot_id>/", views.shot_detail, name="shot_detail"),
    path("shots/<int:shot_id>/edit/", views.shot_edit, name="shot_edit"),
    path("shots/<int:shot_id>/move/", views.shot_move, name="shot_move"),
    path("shots/<int:shot_id>/transition/", views.shot_transition, name="shot_transition"),
    path("shots/<int:shot_id>/duplicate/", views.shot_duplicate, name="shot_duplicate"),
    path("shots/<int:shot_id>/delete/", views.shot_delete, name="shot_delete"),
    path(
        "shots/<int:shot_id>/takes/<int:job_id>/promote/", views.take_promote, name="take_promote"
    ),
    path("shots/<int:shot_id>/takes/<int:job_id>/reroll/", views.take_reroll, name="take_reroll"),
    path("shots/<int:shot_id>/takes/<int:job_id>/circle/", views.take_circle, name="take_circle"),
    path("studio/credits/", views.credits_badge, name="credits_badge"),
]
