"""Sign-up, log-in, teams and members."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from accounts.models import ApiKey, Role, User


class SignupForm(forms.Form):
    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
    display_name = forms.CharField(
        max_length=80, required=False, label="Name", help_text="Shown to your teammates."
    )
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters, not all digits, not a common password.",
    )

    def clean_email(self) -> str:
        # Whether the address has an account is said only to its mailbox.
        email: str = self.cleaned_data["email"].strip().lower()
        return email

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password"):
            probe = User(email=data.get("email", ""), display_name=data.get("display_name", ""))
            try:
                password_validation.validate_password(data["password"], probe)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return data


def login_username(request: object, credentials: dict[str, Any] | None) -> str:
    """What django-axes counts failures against: the email as typed, case folded, so
    "Ada@x" and "ada@x" are one account."""
    raw = (credentials or {}).get("username")
    if raw is None:  # a successful log-in is reported with the request alone
        raw = getattr(request, "POST", {}).get("username", "")
    return str(raw or "").strip().lower()


class EmailLoginForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password don't match an account. Passwords are case-sensitive.",
    }
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.is_bound and self.data.get("username"):
            # After a wrong password the email is right more often than not: focus the
            # password, which is what to type again.
            self.fields["username"].widget.attrs.pop("autofocus", None)
            self.fields["password"].widget.attrs["autofocus"] = True


class TeamCreateForm(forms.Form):
    name = forms.CharField(max_length=80, label="Team name")


class MemberAddForm(forms.Form):
    email = forms.EmailField(label="Email of an existing account")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=80, label="Key name", help_text="What uses it: a pipeline, a script."
    )
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices,
        initial=[ApiKey.Scope.READ],
        widget=forms.CheckboxSelectMultiple,
        help_text="Read: look things up. Render: spend credits and change projects.",
    )


class WebhookEndpointForm(forms.Form):
    url = forms.URLField(
        max_length=500,
        label="Endpoint URL",
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/dailies-hook"}),
    )
    description = forms.CharField(max_length=120, required=False)
