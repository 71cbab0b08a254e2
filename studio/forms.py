"""How a view shows a service's refusal on its form."""

from __future__ import annotations

from django import forms

from studio.errors import UserError


def add_user_error(form: forms.Form, error: UserError) -> None:
    """Put a service's refusal beside the field it names, or above the form when the form
    has no such field (an API-only field, say), so the message is never lost."""
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)
