"""Jinja2 helpers: the hidden CSRF input for any form, the CSRF meta tags for scripts.

Example:
    ```python
    env = jinja2.Environment(loader=..., autoescape=True)
    install_csrf(env)
    # in a template: <form method="post">{{ csrf_input(request) }} ... </form>
    # and, for HTMX or other scripts, in <head>: {{ csrf_meta(request) }}
    ```
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from markupsafe import Markup

from cookieguard.asgi import csrf
from cookieguard.asgi._types import Connection

if TYPE_CHECKING:
    from jinja2 import Environment

__all__ = ["csrf_input", "csrf_meta", "install_csrf"]


def csrf_input(request: Connection) -> Markup:
    """``<input type="hidden" name="csrfmiddlewaretoken" value="...">`` with a fresh token.

    The field name follows `CSRFConfig.form_field`. Calling it makes the response set the
    CSRF cookie when the browser has none, so a page with a form can always be submitted.

    Args:
        request: the current request (or its ASGI scope), inside `CSRFMiddleware`.
    """
    return Markup(csrf.csrf_input(request))  # noqa: S704 -- the field name is escaped, the token is alphanumeric


def csrf_meta(request: Connection) -> Markup:
    """The ``csrf-token`` and ``csrf-header`` ``<meta>`` tags (see `cookieguard.csrf_meta`)."""
    return Markup(csrf.csrf_meta(request))  # noqa: S704 -- the header name is escaped, the token is alphanumeric


def install_csrf(env: Environment) -> None:
    """Make ``csrf_input(request)`` and ``csrf_meta(request)`` available in every template."""
    env.globals["csrf_input"] = csrf_input
    env.globals["csrf_meta"] = csrf_meta
