"""Headers every dynamic response carries: what the browser may cache, and which of its
features a page may use."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase

PRIVATE = "private, no-store"


class PrivacyHeadersMiddleware:
    """``Cache-Control: private, no-store`` on every page, API answer and download this
    server renders (static files are served before this runs, by whitenoise, with their
    own long cache), unless a view chose otherwise; and the ``Permissions-Policy``.

    A studio page, a ledger or a render is one team's: neither a shared cache nor the
    browser's disk should keep it after logging out.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if "Cache-Control" not in response:
            response["Cache-Control"] = PRIVATE
        response.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response
