"""The seam between login/logout and whichever CSRF driver serves the request.

Login and logout rotate the CSRF secret (Django's ``rotate_token``): a token planted before
login must not work after it. Auth must not need to know which driver holds the secret (the
ASGI middleware today, a WSGI one next) nor how it keeps it, and the drivers must not know
about auth. Both meet here instead:

* a CSRF driver keeps its per-request state, an object with a ``rotate()`` method
  (`RotatableCSRFSecret`), at `CSRF_STATE_KEY` in the request's own mapping (the ASGI scope,
  the WSGI environ);
* auth calls `rotate_csrf_secret` with that mapping, and knows nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from cookieguard.errors import ConfigError

__all__ = ["CSRF_STATE_KEY", "RotatableCSRFSecret", "rotate_csrf_secret"]

CSRF_STATE_KEY = "cookieguard.csrf"
"""Where a CSRF driver keeps its per-request state in the request's mapping."""


@runtime_checkable
class RotatableCSRFSecret(Protocol):
    """What a CSRF driver's per-request state offers auth."""

    def rotate(self) -> None:
        """Replace the secret; tokens issued before stop working, the response carries it."""
        ...


def rotate_csrf_secret(request: Mapping[str, Any]) -> bool:
    """Rotate the request's CSRF secret; False if no CSRF driver runs (an API-only app).

    Args:
        request: the ASGI scope or WSGI environ of the request.

    Raises:
        ConfigError: something other than a CSRF state sits at `CSRF_STATE_KEY`; rotation
            is never skipped silently.
    """
    state = request.get(CSRF_STATE_KEY)
    if state is None:
        return False
    if not isinstance(state, RotatableCSRFSecret):
        raise ConfigError(f"request[{CSRF_STATE_KEY!r}] holds no CSRF state that can rotate")
    state.rotate()
    return True
