"""Account and team pages. Each URL renders its full page, or its partial for htmx."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.tokens import default_token_generator
from django.contrib.auth.views import PasswordResetView
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selectors, services
from accounts.forms import (
    ApiKeyForm,
    MemberAddForm,
    MemberRoleForm,
    SignupForm,
    TeamCreateForm,
    WebhookEndpointForm,
)
from accounts.http import HtmxRequest, TeamRequest
from accounts.middleware import SESSION_KEY
from accounts.models import Membership, Role, Team, User
from billing import ledger
from billing import selectors as billing_selectors
from studio.errors import UserError
from studio.forms import add_user_error
from webhooks import selectors as webhook_selectors
from webhooks import services as webhook_services


@require_http_methods(["GET", "POST"])
def signup(request: HtmxRequest) -> HttpResponse:
    """The same answer whether or not the address has an account: the mailbox learns which
    (``services.user_signup_request``)."""
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():

        def confirm_url(user: User) -> str:
            uid = urlsafe_base64_encode(force_bytes(user.pk))
            token = default_token_generator.make_token(user)
            return request.build_absolute_uri(reverse("signup_confirm", args=[uid, token]))

        services.user_signup_request(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
            display_name=form.cleaned_data["display_name"],
            confirm_url=confirm_url,
            login_url=request.build_absolute_uri(reverse("login")),
            reset_url=request.build_absolute_uri(reverse("password_reset")),
        )
        request.session["signup_email"] = form.cleaned_data["email"]
        return redirect("signup_done")
    return render(request, "registration/signup.html", {"form": form})


@require_GET
def signup_done(request: HtmxRequest) -> HttpResponse:
    context = {
        "email": request.session.get("signup_email", ""),
        "console_mail": settings.EMAIL_BACKEND.endswith("console.EmailBackend"),
    }
    return render(request, "registration/signup_done.html", context)


@require_GET
def signup_confirm(request: HtmxRequest, uidb64: str, token: str) -> HttpResponse:
    """The link a sign-up mails: it activates the account once and logs in."""
    try:
        user = User.objects.filter(pk=int(urlsafe_base64_decode(uidb64))).first()
    except (ValueError, OverflowError):
        user = None
    if user is None or not default_token_generator.check_token(user, token):
        return render(request, "registration/signup_invalid.html", status=400)
    services.user_signup_confirm(user=user)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, "Welcome to Dailies. Your team has 30 free credits.")
    return redirect("dashboard")


class RateLimitedPasswordResetView(PasswordResetView):
    """Django's reset form, with at most ``PASSWORD_RESET_PER_EMAIL`` mails to one address
    and ``PASSWORD_RESET_PER_IP`` requests from one address per hour. Past the address's
    limit the page answers as usual and sends nothing (so it says nothing about accounts);
    past the IP's it answers 429."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        ip = request.META.get("REMOTE_ADDR", "")
        if not _under_limit(f"reset-ip:{ip}", settings.PASSWORD_RESET_PER_IP):
            return render(
                request,
                "registration/password_reset_form.html",
                {
                    "form": self.get_form(),
                    "throttled": "Too many reset requests from this address. Try again in an hour.",
                },
                status=429,
            )
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        email = form.cleaned_data["email"].strip().lower()
        digest = hashlib.sha256(email.encode()).hexdigest()
        if not _under_limit(f"reset-email:{digest}", settings.PASSWORD_RESET_PER_EMAIL):
            return redirect(self.get_success_url())
        return super().form_valid(form)


def _under_limit(key: str, limit: int, window_s: int = 3600) -> bool:
    """Count one more in ``key``'s window; False once past ``limit``."""
    cache.add(key, 0, timeout=window_s)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window_s)
        count = 1
    return count <= limit


@login_required
@require_http_methods(["GET", "POST"])
def team_list(request: TeamRequest) -> HttpResponse:
    form = TeamCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = services.team_create(name=form.cleaned_data["name"], owner=request.user)
        except UserError as exc:
            add_user_error(form, exc)
        else:
            request.session[SESSION_KEY] = team.pk
            messages.success(request, f"Created {team.name}. It is now your active team.")
            return redirect("team_detail", team_id=team.pk)
    return render(
        request,
        "accounts/team_list.html",
        {"teams": selectors.team_list(user=request.user), "form": form},
    )


@login_required
@require_POST
def team_switch(request: TeamRequest) -> HttpResponse:
    team = selectors.team_get(user=request.user, team_id=request.POST.get("team", ""))
    request.session[SESSION_KEY] = team.pk
    target = request.POST.get("next") or reverse("dashboard")
    if not target.startswith("/") or target.startswith("//"):
        target = reverse("dashboard")
    if request.htmx:
        return HttpResponse(status=204, headers={"HX-Redirect": target})
    return redirect(target)


def _team_context(request: TeamRequest, team_id: int) -> dict[str, Any]:
    team = selectors.team_get(user=request.user, team_id=team_id)
    me = selectors.membership_get(user=request.user, team=team)
    return {
        "team": team,
        "me": me,
        "account": ledger.balance(team),
        "members": selectors.team_members(team=team),
        "ledger": billing_selectors.ledger_page(team=team, page=request.GET.get("page")),
        "next_billing": ledger.next_billing_date(team.billing_anchor, timezone.localdate()),
        "add_form": MemberAddForm(),
        "role_choices": Role.choices,
        **_integrations_context(request, team, me),
    }


def _integrations_context(request: TeamRequest, team: Team, me: Membership) -> dict[str, Any]:
    """API keys and webhooks: owners and admins see and manage them."""
    if not me.can_manage_integrations:
        return {}
    return {
        "api_keys": selectors.api_key_list(team=team),
        "key_form": ApiKeyForm(),
        # A new key's secret, shown on the page that follows its creation and never again.
        "new_key": request.session.pop(NEW_KEY_SESSION, None),
        "endpoints": webhook_selectors.endpoint_list(team=team),
        "endpoint_form": WebhookEndpointForm(),
        "deliveries": webhook_selectors.delivery_list(team=team)[:20],
        "signing_secret": webhook_services.signing_secret(team),
    }


@login_required
@require_GET
def team_detail(request: TeamRequest, team_id: int) -> HttpResponse:
    return render(request, "accounts/team_detail.html", _team_context(request, team_id))


@login_required
@require_GET
def team_ledger(request: TeamRequest, team_id: int) -> HttpResponse:
    template = "accounts/team_detail.html"
    if request.htmx:
        template += "#ledger"
    return render(request, template, _team_context(request, team_id))


def _members_response(request: TeamRequest, team_id: int, **extra: object) -> HttpResponse:
    context = _team_context(request, team_id) | extra
    if request.htmx:
        return render(request, "accounts/team_detail.html#members", context)
    return render(request, "accounts/team_detail.html", context)


@login_required
@require_POST
def member_add(request: TeamRequest, team_id: int) -> HttpResponse:
    team = selectors.team_get(user=request.user, team_id=team_id)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            services.membership_add(
                team=team,
                actor=request.user,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
            )
        except UserError as exc:
            add_user_error(form, exc)
    if form.errors:
        return _members_response(request, team_id, add_form=form)
    messages.success(request, f"Added {form.cleaned_data['email']}.")
    if request.htmx:
        return _members_response(request, team_id)
    return redirect("team_detail", team_id=team.pk)


def _membership_action(
    request: TeamRequest,
    team_id: int,
    membership_id: int,
    action: Callable[[Membership], object],
) -> HttpResponse:
    team = selectors.team_get(user=request.user, team_id=team_id)
    membership = selectors.team_membership_get(team=team, membership_id=membership_id)
    error = None
    try:
        action(membership)
    except UserError as exc:
        error = exc.message
    if error:
        messages.error(request, error)
    if request.htmx:
        return _members_response(request, team_id, member_error=error)
    return redirect("team_detail", team_id=team.pk)


@login_required
@require_POST
def member_role(request: TeamRequest, team_id: int, membership_id: int) -> HttpResponse:
    form = MemberRoleForm(request.POST)
    role = form.cleaned_data["role"] if form.is_valid() else ""
    return _membership_action(
        request,
        team_id,
        membership_id,
        lambda m: services.membership_set_role(membership=m, actor=request.user, role=role),
    )


@login_required
@require_POST
def member_remove(request: TeamRequest, team_id: int, membership_id: int) -> HttpResponse:
    return _membership_action(
        request,
        team_id,
        membership_id,
        lambda m: services.membership_remove(membership=m, actor=request.user),
    )


# --- API keys and webhooks ---------------------------------------------------------------------

NEW_KEY_SESSION = "new_api_key"


def _manager_team(request: TeamRequest, team_id: int) -> Team:
    team = selectors.team_get(user=request.user, team_id=team_id)
    services.require_integrations_manager(team=team, actor=request.user)
    return team


def _section(request: TeamRequest, team_id: int, partial: str, **extra: object) -> HttpResponse:
    """The section's partial for htmx; otherwise back to the team page."""
    if request.htmx:
        context = _team_context(request, team_id) | extra
        return render(request, f"accounts/_integrations.html#{partial}", context)
    return redirect(reverse("team_detail", args=[team_id]) + f"#{partial}")


@login_required
@require_POST
def api_key_create(request: TeamRequest, team_id: int) -> HttpResponse:
    team = _manager_team(request, team_id)
    form = ApiKeyForm(request.POST)
    if form.is_valid():
        try:
            _, token = services.api_key_create(
                team=team,
                actor=request.user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
            )
        except UserError as exc:
            add_user_error(form, exc)
        else:
            request.session[NEW_KEY_SESSION] = token
            return _section(request, team_id, "api-keys")
    if request.htmx:
        return _section(request, team_id, "api-keys", key_form=form)
    context = _team_context(request, team_id) | {"key_form": form}
    return render(request, "accounts/team_detail.html", context, status=422)


@login_required
@require_POST
def api_key_revoke(request: TeamRequest, team_id: int, key_id: int) -> HttpResponse:
    team = _manager_team(request, team_id)
    key = selectors.api_key_get(team=team, key_id=key_id)
    services.api_key_revoke(key=key, actor=request.user)
    if not request.htmx:
        messages.success(request, f"Revoked {key.name}: it no longer works.")
    return _section(request, team_id, "api-keys")


@login_required
@require_POST
def webhook_endpoint_create(request: TeamRequest, team_id: int) -> HttpResponse:
    team = _manager_team(request, team_id)
    form = WebhookEndpointForm(request.POST)
    if form.is_valid():
        try:
            webhook_services.webhook_endpoint_create(
                team=team,
                actor=request.user,
                url=form.cleaned_data["url"],
                description=form.cleaned_data["description"],
            )
        except UserError as exc:
            add_user_error(form, exc)
        else:
            return _section(request, team_id, "webhooks")
    if request.htmx:
        return _section(request, team_id, "webhooks", endpoint_form=form)
    context = _team_context(request, team_id) | {"endpoint_form": form}
    return render(request, "accounts/team_detail.html", context, status=422)


@login_required
@require_POST
def webhook_endpoint_delete(request: TeamRequest, team_id: int, endpoint_id: int) -> HttpResponse:
    team = _manager_team(request, team_id)
    endpoint = webhook_selectors.endpoint_get(team=team, endpoint_id=endpoint_id)
    webhook_services.webhook_endpoint_delete(endpoint=endpoint)
    return _section(request, team_id, "webhooks")


@login_required
@require_POST
def webhook_secret_rotate(request: TeamRequest, team_id: int) -> HttpResponse:
    team = _manager_team(request, team_id)
    webhook_services.signing_secret_rotate(team=team)
    if not request.htmx:
        messages.success(request, "New signing secret: update your receivers.")
    return _section(request, team_id, "webhooks")


@login_required
@require_GET
def webhook_deliveries(request: TeamRequest, team_id: int) -> HttpResponse:
    """The delivery log, refreshed in place."""
    _manager_team(request, team_id)
    template = (
        "accounts/_integrations.html#deliveries" if request.htmx else "accounts/team_detail.html"
    )
    return render(request, template, _team_context(request, team_id))
