from __future__ import annotations

from django.urls import path

from generation import views

urlpatterns = [
    path("renders/", views.job_list, name="job_list"),
    path("renders/<int:job_id>/", views.job_detail, name="job_detail"),
    path("renders/<int:job_id>/status/", views.job_status, name="job_status"),
    path("renders/<int:job_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("renders/<int:job_id>/files/<str:kind>/", views.job_artifact, name="job_artifact"),
]
