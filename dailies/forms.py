from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from dailies.models import Resolution, Role, User


class SignupForm(forms.Form):
    email = forms.EmailField(
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
    display_name = forms.CharField(
        max_length=80, required=False, label="Name", help_text="Shown to your teammates."
    )
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters, not all digits, not a common password.",
    )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                "An account with this email already exists. Log in instead."
            )
        return email

    def clean(self) -> dict:
        data = super().clean()
        if data.get("password"):
            probe = User(email=data.get("email", ""), display_name=data.get("display_name", ""))
            try:
                password_validation.validate_password(data["password"], probe)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return data


class EmailLoginForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password don't match an account. Passwords are case-sensitive.",
    }
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )


class TeamCreateForm(forms.Form):
    name = forms.CharField(max_length=80, label="Team name")


class MemberAddForm(forms.Form):
    email = forms.EmailField(label="Email of an existing account")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class EstimateForm(forms.Form):
    duration_s = forms.IntegerField(min_value=1, max_value=30, initial=5, label="Duration (s)")
    resolution = forms.TypedChoiceField(
        choices=Resolution.choices, coerce=int, initial=Resolution.P1080
    )
    quality = forms.ChoiceField(
        choices=[("flash", "Flash"), ("standard", "Standard"), ("pro", "Pro")], initial="standard"
    )


class AdjustCreditsForm(forms.Form):
    credits = forms.IntegerField(
        help_text="Positive adds top-up credits; negative removes credits."
    )
    reason = forms.CharField(max_length=200)


class TopupForm(forms.Form):
    credits = forms.IntegerField(min_value=1)
    memo = forms.CharField(max_length=200, initial="Top-up purchase")
