"""The CSRF token in Litestar templates: ``{{ csrf_token() }}`` and ``{{ csrf_field() }}``.

The plugin registers both on the app's template engine with Litestar's own
``register_template_callable``, so they work in every template the engine renders, with the
request taken from the template context Litestar passes (its ``Template`` response puts the
request there). ``csrf_token()`` replaces Litestar's callable of the same name, which knows
only Litestar's CSRF middleware; ``csrf_field()`` is the whole hidden input with
`CSRFConfig.form_field` as its name. (Not ``csrf_input``: Litestar's ``Template`` response
puts a ``csrf_input`` string of its own CSRF into every context, which would hide a callable
of that name.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cookieguard.asgi.csrf import csrf_input, get_csrf_token
from cookieguard.errors import ConfigError

__all__ = ["csrf_field", "csrf_token", "register_template_callables"]


def _request(context: Mapping[str, Any]) -> Any:
    request = context.get("request")
    if request is None:
        raise ConfigError("csrf_token() needs the request in the template context")
    return request


def csrf_token(context: Mapping[str, Any], /) -> str:
    """A freshly masked CSRF token for the template's request."""
    return get_csrf_token(_request(context))


def csrf_field(context: Mapping[str, Any], /) -> str:
    """``<input type="hidden" name="csrfmiddlewaretoken" value="...">`` (safe markup)."""
    html = csrf_input(_request(context))
    try:
        from markupsafe import Markup
    except ImportError:  # not Jinja: an engine without autoescaping takes the plain string
        return html
    return Markup(html)  # noqa: S704 -- the field name is escaped, the token is alphanumeric


def register_template_callables(engine: Any) -> None:
    """Register ``csrf_token`` and ``csrf_field`` on a Litestar template engine."""
    engine.register_template_callable(key="csrf_token", template_callable=csrf_token)
    engine.register_template_callable(key="csrf_field", template_callable=csrf_field)
