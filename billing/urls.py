from __future__ import annotations

from django.urls import path

from billing import views

urlpatterns = [
    path("plans/", views.plans, name="plans"),
    path("plans/estimate/", views.estimate, name="estimate"),
]
