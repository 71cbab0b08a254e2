"""The one base class for refusals a user reads.

Services raise a subclass with a sentence that says what happened and what to do, and the
name of the form field it concerns when there is one; ``studio.forms.add_user_error`` puts it
beside that field (or above the form). Anything else that escapes a view is a bug, logged
and answered with the 500 page.
"""

from __future__ import annotations


class UserError(Exception):
    """A request that cannot be carried out, explained to the person who made it.

    Args:
        message: shown as is; says what happened and, where it helps, what to do instead.
        field: the form field the message concerns, or None for the request as a whole.
    """

    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field

    def __str__(self) -> str:
        return self.message
