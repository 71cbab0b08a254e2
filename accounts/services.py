"""Writes for accounts, teams and memberships. Credits move in ``billing.ledger`` only."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from collections.abc import Callable
from datetime import timedelta

from django.contrib.auth.hashers import make_password
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, Membership, Role, Team, User
from billing import ledger
from billing.models import Plan
from billing.plans import DEFAULT_PLAN_CODE
from studio.errors import UserError


@transaction.atomic
def team_create(
    *, name: str, owner: User, plan: Plan | None = None, personal: bool = False
) -> Team:
    """A team with its owner, an empty credit account and this period's monthly grant."""
    name = name.strip()
    if not name:
        raise UserError("A team needs a name.", field="name")
    team = Team.objects.create(
        name=name,
        plan=plan or Plan.objects.get(code=DEFAULT_PLAN_CODE),
        billing_anchor=timezone.localdate(),
        is_personal=personal,
    )
    Membership.objects.create(team=team, user=owner, role=Role.OWNER)
    ledger.account_open(team=team)
    return team


@transaction.atomic
def user_signup(*, email: str, password: str, display_name: str = "", active: bool = True) -> User:
    """A new account with its personal team on the Free plan. ``active=False``: it can
    log in once its owner follows the link :func:`user_signup_request` mails."""
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise UserError("An account with this email already exists.", field="email")
    user = User.objects.create_user(
        email=email, password=password, display_name=display_name, is_active=active
    )
    team_create(name=f"{user.short_name}'s team", owner=user, personal=True)
    return user


def _unconfirmed(user: User) -> bool:
    return not user.is_active and user.last_login is None


@transaction.atomic
def user_signup_request(
    *,
    email: str,
    password: str,
    display_name: str = "",
    confirm_url: Callable[[User], str],
    login_url: str,
    reset_url: str,
) -> None:
    """A sign-up that says nothing about which emails have accounts: the page that
    follows is the same either way, and only the mailbox learns the difference.

    A new address gets an inactive account and a link (``confirm_url(user)``) that
    activates it and logs in. An address that has an account gets a note saying so, with
    the log-in and reset links; an unconfirmed account takes the latest password and
    gets a fresh link (the earlier one stops working, since the token covers the hash).
    """
    email = email.strip().lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = user_signup(email=email, password=password, display_name=display_name, active=False)
    elif _unconfirmed(user):
        user.set_password(password)
        user.display_name = display_name or user.display_name
        user.save(update_fields=["password", "display_name"])
    else:
        make_password(password)  # the same work as a new account: timing says nothing
        body = (
            f"Someone, perhaps you, tried to create a Dailies account with {email}. "
            "This address already has one.\n\n"
            f"Log in: {login_url}\nForgot the password? Choose a new one: {reset_url}\n\n"
            "If it wasn't you, ignore this email: nothing has changed.\n"
        )
        transaction.on_commit(
            lambda: send_mail("Your Dailies account", body, None, [email], fail_silently=True)
        )
        return
    link = confirm_url(user)
    body = (
        f"Welcome to Dailies. Open this link to confirm {email} and start:\n{link}\n\n"
        "If it wasn't you, ignore this email: without the link the account stays closed.\n"
    )
    transaction.on_commit(
        lambda: send_mail("Confirm your Dailies account", body, None, [email], fail_silently=True)
    )


@transaction.atomic
def user_signup_confirm(*, user: User) -> User:
    user.is_active = True
    user.save(update_fields=["is_active"])
    return user


def _require_owner(*, team: Team, actor: User) -> None:
    if not Membership.objects.filter(team=team, user=actor, role=Role.OWNER).exists():
        raise PermissionDenied("Only a team owner can manage members.")


def _ensure_an_owner_remains(membership: Membership) -> None:
    others = Membership.objects.filter(team_id=membership.team_id, role=Role.OWNER).exclude(
        pk=membership.pk
    )
    if not others.exists():
        raise UserError("A team needs at least one owner: make someone else owner first.")


@transaction.atomic
def membership_add(*, team: Team, actor: User, email: str, role: str = Role.MEMBER) -> Membership:
    _require_owner(team=team, actor=actor)
    if role not in Role.values:
        raise UserError("Choose owner, admin or member.", field="role")
    user = User.objects.filter(email__iexact=email.strip()).first()
    if user is None:
        raise UserError(
            "No account uses this email. Ask them to sign up, then add them.", field="email"
        )
    if Membership.objects.filter(team=team, user=user).exists():
        raise UserError(f"{user.email} is already a member.", field="email")
    return Membership.objects.create(team=team, user=user, role=role)


@transaction.atomic
def membership_set_role(*, membership: Membership, actor: User, role: str) -> Membership:
    _require_owner(team=membership.team, actor=actor)
    if role not in Role.values:
        raise UserError("Choose owner, admin or member.", field="role")
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if membership.role == Role.OWNER and role != Role.OWNER:
        _ensure_an_owner_remains(membership)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: User) -> None:
    _require_owner(team=membership.team, actor=actor)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if membership.role == Role.OWNER:
        _ensure_an_owner_remains(membership)
    membership.delete()


@transaction.atomic
def team_change_plan(*, team: Team, plan: Plan) -> Team:
    """Switch plan; the new allowance applies from the next billing date."""
    team.plan = plan
    team.save(update_fields=["plan"])
    return team


DEMO_EMAIL = "demo@dailies.local"


@transaction.atomic
def demo_account_ensure() -> tuple[User, str | None]:
    """The demo login. Returns the password only when the account is created now."""
    user = User.objects.filter(email=DEMO_EMAIL).first()
    if user is not None:
        return user, None
    password = secrets.token_urlsafe(9)
    user = user_signup(email=DEMO_EMAIL, password=password, display_name="Demo")
    team = user.teams.get(is_personal=True)
    ledger.topup(team=team, credits=100, memo="Welcome credits for the demo account")
    return user, password


@transaction.atomic
def demo_password_reset() -> tuple[User, str]:
    """A new password for the demo login (creating the account if it is missing)."""
    user, password = demo_account_ensure()
    if password is None:
        password = secrets.token_urlsafe(9)
        user.set_password(password)
        user.is_active = True
        user.save(update_fields=["password", "is_active"])
    return user, password


# --- API keys ----------------------------------------------------------------------------------

API_KEY_PREFIX = "dly_"
MAX_API_KEYS = 20
# ``last_used_at`` is written at most this often per key: a busy key must not turn every
# request into a database write.
LAST_USED_EVERY = timedelta(minutes=1)
_ALPHABET = string.ascii_letters + string.digits


def require_integrations_manager(*, team: Team, actor: User) -> None:
    """Owners and admins manage a team's API keys and webhooks."""
    if not Membership.objects.filter(
        team=team, user=actor, role__in=[Role.OWNER, Role.ADMIN]
    ).exists():
        raise PermissionDenied("Only a team's owners and admins manage its API keys and webhooks.")


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def api_key_create(*, team: Team, actor: User, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """A new key and its secret, which is returned here once and never stored."""
    require_integrations_manager(team=team, actor=actor)
    name = name.strip()
    if not name:
        raise UserError("Name the key after what uses it.", field="name")
    wanted = [scope for scope in ApiKey.Scope.values if scope in scopes]
    if not wanted or len(set(scopes)) != len(wanted):
        raise UserError("Choose read, render or both.", field="scopes")
    if ApiKey.objects.filter(team=team, revoked_at__isnull=True).count() >= MAX_API_KEYS:
        raise UserError(f"A team has at most {MAX_API_KEYS} keys: revoke one first.", field="name")
    prefix = API_KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(8))
    token = f"{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        team=team,
        name=name[:80],
        prefix=prefix,
        key_sha256=_sha256(token),
        scopes=wanted,
        created_by=actor,
    )
    return key, token


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: User) -> ApiKey:
    """The key stops working at once; it stays listed as revoked."""
    require_integrations_manager(team=key.team, actor=actor)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def api_key_resolve(token: str) -> ApiKey | None:
    """The live key ``token`` is, or None: unknown, revoked, or its maker left the team."""
    size = len(API_KEY_PREFIX) + 8
    prefix, separator, rest = token[:size], token[size : size + 1], token[size + 1 :]
    if not prefix.startswith(API_KEY_PREFIX) or separator != "_" or not rest:
        return None
    key = (
        ApiKey.objects.select_related("team", "team__plan", "created_by")
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    if key is None or not hmac.compare_digest(key.key_sha256, _sha256(token)):
        return None
    if (
        key.created_by_id is None
        or not Membership.objects.filter(team_id=key.team_id, user_id=key.created_by_id).exists()
    ):
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_EVERY:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
