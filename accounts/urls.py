from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import views
from accounts.forms import EmailLoginForm

urlpatterns = [
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/signup/sent/", views.signup_done, name="signup_done"),
    path(
        "accounts/signup/confirm/<str:uidb64>/<str:token>/",
        views.signup_confirm,
        name="signup_confirm",
    ),
    path(
        "accounts/password_reset/",
        views.RateLimitedPasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=EmailLoginForm),
        name="login",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("teams/", views.team_list, name="team_list"),
    path("teams/switch/", views.team_switch, name="team_switch"),
    path("teams/<int:team_id>/", views.team_detail, name="team_detail"),
    path("teams/<int:team_id>/ledger/", views.team_ledger, name="team_ledger"),
    path("teams/<int:team_id>/members/add/", views.member_add, name="member_add"),
    path(
        "teams/<int:team_id>/members/<int:membership_id>/role/",
        views.member_role,
        name="member_role",
    ),
    path(
        "teams/<int:team_id>/members/<int:membership_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path("teams/<int:team_id>/api-keys/", views.api_key_create, name="api_key_create"),
    path(
        "teams/<int:team_id>/api-keys/<int:key_id>/revoke/",
        views.api_key_revoke,
        name="api_key_revoke",
    ),
    path("teams/<int:team_id>/webhooks/", views.webhook_endpoint_create, name="webhook_create"),
    path(
        "teams/<int:team_id>/webhooks/<int:endpoint_id>/delete/",
        views.webhook_endpoint_delete,
        name="webhook_delete",
    ),
    path(
        "teams/<int:team_id>/webhooks/secret/",
        views.webhook_secret_rotate,
        name="webhook_secret_rotate",
    ),
    path(
        "teams/<int:team_id>/webhooks/deliveries/",
        views.webhook_deliveries,
        name="webhook_deliveries",
    ),
]
