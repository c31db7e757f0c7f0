"""`CSRFMiddleware`: Django-compatible CSRF protection for any ASGI app, plus fetch metadata.

The middleware hands `cookieguard.core.csrf.decide` the facts (a handful of headers, the
secret lazily) and carries the decision out: a 403 page, or the app runs and the response
gets the ``csrftoken`` cookie when the secret is new (the request had none, or a malformed
one) or rotated, and ``Vary: Cookie`` whenever it carries a token or the cookie. The body is
read only when the core answers `NeedToken` (an unsafe request that passed the origin checks,
has no token header, carries a form and is not on an ``exempt_paths`` entry), for the field
and up to the size it names; it is then replayed to the app unchanged.

Route exemption (`csrf_exempt`) is decided only for a request the checks would refuse: the
route table is then asked, with that request's own scope, which endpoint would serve it. A
request that passes never costs a route lookup, and no answer is ever kept for another
request (routes may match on the Host header or anything else, not only the path).

Per request state (`CSRFState`, in `csrf_state`) lives at ``scope["cookieguard.csrf"]``; apps
use `get_csrf_token`, `rotate_csrf_token`, `csrf_input`, `csrf_meta`, `csrf_header_name`
and `csrf_exempt`, all importable here.
"""

from __future__ import annotations

import logging

from cookieguard.asgi._body import ClientDisconnected, UnreadableForm, read_form_token
from cookieguard.asgi._csrf_state import (
    NO_SESSION_MESSAGE,
    SESSION_KEY,
    STATE_KEY,
    CSRFState,
    csrf_header_name,
    csrf_input,
    csrf_meta,
    get_csrf_token,
    rotate_csrf_token,
)
from cookieguard.asgi._exemption_check import ExemptionCheck
from cookieguard.asgi._layering import check_layering
from cookieguard.asgi._responses import ApiPaths, send_error
from cookieguard.asgi._routes import ExemptionLookup, RouteExemptions, csrf_exempt, route_path
from cookieguard.asgi._security_events import emit_for
from cookieguard.asgi._types import ASGIApp, Message, Receive, Scope, Send
from cookieguard.asgi.session import COOKIE_DOMAIN_SCOPE_KEY
from cookieguard.asgi.session import SCOPE_KEY as SESSION_SCOPE_KEY
from cookieguard.config import CSRFConfig
from cookieguard.core import csrf as core
from cookieguard.core._vary import vary_on_cookie
from cookieguard.core.cookies import render_set_cookie
from cookieguard.errors import ConfigError, RequestRejected
from cookieguard.events import EventType

__all__ = [
    "SESSION_KEY",
    "STATE_KEY",
    "CSRFMiddleware",
    "CSRFState",
    "csrf_exempt",
    "csrf_header_name",
    "csrf_input",
    "csrf_meta",
    "get_csrf_token",
    "rotate_csrf_token",
]

_log = logging.getLogger("cookieguard.csrf")


_SAFE_METHODS = core.SAFE_METHODS
_FAILURE_MESSAGE = "CSRF verification failed. Request aborted."
_FAILURE_HINT = (
    "The form or page you used is out of date or was not sent from this site. "
    "Go back, reload the page and try again. If this keeps happening, make sure your "
    "browser accepts cookies from this site."
)


def _log_path(scope: Scope) -> str:
    # Escape control and non-ASCII characters so a crafted path cannot forge log lines.
    return ascii(str(scope.get("path", ""))[:300])[1:-1]


class CSRFMiddleware:
    """Pure ASGI CSRF middleware (no `BaseHTTPMiddleware`).

    Args:
        app: the ASGI app to protect.
        config: settings; the defaults are Django's names and lifetimes.
        exemptions: who answers "is this request's endpoint `csrf_exempt`?"; by default the
            wrapped app's Starlette-style route table (`RouteExemptions`).

    With sessions, the session middleware must be the outer one:
    ``SessionMiddleware(CSRFMiddleware(app), store)``.
    """

    def __init__(
        self,
        app: ASGIApp,
        config: CSRFConfig | None = None,
        *,
        exemptions: ExemptionLookup | None = None,
    ) -> None:
        config = config or CSRFConfig()
        check_layering("csrf", app, uses_session=config.use_session)
        self.app = app
        self.config = config
        self.policy: core.CSRFPolicy = core.CSRFPolicy(
            trusted_origins=config.trusted_origins,
            allow_same_site=config.allow_same_site,
            require_token=config.require_token,
            exempt_paths=config.exempt_paths,
            header_name=config.header_name,
            form_field=config.form_field,
            max_body_size=config.max_body_size,
            # With the secret in the session no CSRF cookie exists: the Referer check trusts
            # the session cookie's domain instead, learnt per request (see `_policy_for`).
            cookie_domain=None if config.use_session else config.cookie.domain,
        )
        self._session_policies: dict[str, core.CSRFPolicy] = {}
        self._routes = exemptions if exemptions is not None else RouteExemptions(app)
        self._exemption_check = ExemptionCheck(app)
        self._api = ApiPaths(config.api_prefixes)
        self._wire_name = config.cookie.wire_name
        self._cookie_needle = self._wire_name.encode("latin-1") + b"="
        self._use_session = config.use_session
        self._header_name = config.header_name.lower().encode("latin-1")
        # Rendered once: per response only the secret goes in front. Max-Age only: every
        # browser in use honours it, and an Expires date would cost more than the rest of the
        # cookie handling put together.
        self._cookie_prefix = f"{self._wire_name}=".encode("latin-1")
        self._cookie_suffix = {
            https: render_set_cookie(
                config.cookie.spec(https=https), "", max_age=config.cookie_max_age
            )
            .removeprefix(f"{self._wire_name}=")
            .encode("latin-1")
            for https in (False, True)
        }
        self._wanted = frozenset(
            {
                b"host",
                b"origin",
                b"referer",
                b"sec-fetch-site",
                b"content-type",
                b"content-length",
                b"accept",
                self._header_name,
            }
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "websocket":
                await self._websocket(scope, receive, send)
            elif kind == "lifespan":
                await self._exemption_check.lifespan(scope, receive, send, self.app)
            else:
                await self.app(scope, receive, send)
            return
        state = self._state_for(scope)
        # `core.decide` accepts a safe method on the method alone; asked here first, a GET
        # gathers no headers at all (test_safe_methods_are_decided_on_the_method_alone).
        if scope["method"] not in _SAFE_METHODS:
            checked = await self._check(scope, receive, send, state)
            if checked is None:
                return
            receive = checked

        async def send_with_cookie(message: Message) -> None:
            pending = state.cookie_pending or state.token_issued
            if pending and message["type"] == "http.response.start":
                message = self._with_cookie(scope, state, message)
            await send(message)

        await self.app(scope, receive, send_with_cookie)
        if not self._exemption_check.done:
            self._exemption_check.after_request(scope)

    def _state_for(self, scope: Scope) -> CSRFState:
        """The request's `CSRFState`, put on the scope (shared with `cookieguard.CookieGuard`'s
        single-layer path, as are `_check`, `_with_cookie` and `_exemption_check`)."""
        if self._use_session:
            session = scope.get(SESSION_SCOPE_KEY)
            if session is None:
                raise ConfigError(NO_SESSION_MESSAGE)
            state = scope[STATE_KEY] = CSRFState(
                self.config, self._cookie_needle, scope["headers"], session
            )
        else:
            state = scope[STATE_KEY] = CSRFState(self.config, self._cookie_needle, scope["headers"])
        return state

    def _with_cookie(self, scope: Scope, state: CSRFState, message: Message) -> Message:
        """A copy of the response start carrying the new secret's cookie, if one is pending,
        and ``Vary: Cookie`` (the app's message is never changed)."""
        headers = list(message.get("headers", ()))
        if state.cookie_pending:
            headers.append(self._set_cookie(scope, state))
        return {**message, "headers": vary_on_cookie(headers) or headers}

    def _set_cookie(self, scope: Scope, state: CSRFState) -> tuple[bytes, bytes]:
        secret = state.take_pending_cookie()
        assert secret is not None  # only called while a cookie is pending
        suffix = self._cookie_suffix[scope.get("scheme") == "https"]
        # A secret is 32 ASCII letters and digits: nothing in it needs quoting.
        return (b"set-cookie", self._cookie_prefix + secret.encode("ascii") + suffix)

    def _route_exempt(self, scope: Scope) -> bool:
        # Asked only on the way to a refusal, freshly for this request (see the module notes).
        return self._routes.is_exempt(scope)

    def _policy_for(self, scope: Scope) -> core.CSRFPolicy:
        """The policy for a ``use_session`` request: the session cookie's domain is trusted
        in the Referer check, as Django uses ``SESSION_COOKIE_DOMAIN`` in that mode."""
        domain = scope.get(COOKIE_DOMAIN_SCOPE_KEY)
        if not isinstance(domain, str) or not domain:
            return self.policy
        policy = self._session_policies.get(domain)
        if policy is None:
            policy = self.policy.with_cookie_domain(domain)
            if len(self._session_policies) < 8:  # one per SessionMiddleware config, in practice
                self._session_policies[domain] = policy
        return policy

    def _headers(self, scope: Scope) -> dict[bytes, str]:
        wanted = self._wanted
        found: dict[bytes, str] = {}
        for key, value in scope["headers"]:
            if key in wanted and key not in found:
                found[key] = value.decode("latin-1")
        return found

    @staticmethod
    def _host(scope: Scope, found: dict[bytes, str]) -> str:
        host = found.get(b"host")
        if host is not None:
            return host
        server = scope.get("server")
        if server and server[1] is not None:
            name = f"[{server[0]}]" if ":" in server[0] else server[0]
            return f"{name}:{server[1]}"
        return ""

    async def _check(
        self, scope: Scope, receive: Receive, send: Send, state: CSRFState
    ) -> Receive | None:
        """Carry out the core's decision; send the refusal and return None, or return the
        receive the app must use (the body replayed, if the core asked for a form field)."""
        found = self._headers(scope)
        decision = core.decide(
            self._policy_for(scope) if self._use_session else self.policy,
            method=scope["method"],
            path=route_path(scope),
            scheme=scope.get("scheme", "http"),
            host=self._host(scope, found),
            secret=state,
            origin=found.get(b"origin"),
            referer=found.get(b"referer"),
            sec_fetch_site=found.get(b"sec-fetch-site"),
            header_token=found.get(self._header_name),
            content_type=found.get(b"content-type"),
        )
        if isinstance(decision, core.NeedToken):
            try:
                token, receive = await read_form_token(
                    receive,
                    kind=decision.kind,
                    content_type=found[b"content-type"].encode("latin-1"),
                    field=decision.field,
                    max_size=decision.max_size,
                    content_length=_int_or_none(found.get(b"content-length")),
                )
            except ClientDisconnected:
                return None
            except UnreadableForm as exc:
                if self._route_exempt(scope):
                    return exc.receive  # the endpoint gets the whole body back
                await self._refuse_body(scope, send, state, found, exc)
                return None
            decision = core.decide_form_token(decision, token)
        if isinstance(decision, core.Accept) or self._route_exempt(scope):
            return receive
        _log.warning("Forbidden (%s): %s", decision.reason, _log_path(scope))
        await emit_for(scope, EventType.CSRF_REFUSED, reason=decision.reason, path=_log_path(scope))
        await send_error(
            send,
            403,
            _FAILURE_MESSAGE,
            as_json=self._api.wants_json(scope, _bytes_or_none(found.get(b"accept"))),
            code="csrf_failed",
            hint=_FAILURE_HINT,
            detail=decision.reason if self.config.debug else None,
            headers=self._pending_cookie(scope, state),
            page=self.config.error_page,
        )
        return None

    def _pending_cookie(self, scope: Scope, state: CSRFState) -> list[tuple[bytes, bytes]]:
        # A replaced malformed cookie rides on the refusal too, so the retry can succeed.
        if not state.cookie_pending:
            return []
        return [self._set_cookie(scope, state), (b"vary", b"Cookie")]

    async def _refuse_body(
        self,
        scope: Scope,
        send: Send,
        state: CSRFState,
        found: dict[bytes, str],
        exc: RequestRejected,
    ) -> None:
        _log.warning("Bad request body (%s): %s", exc.reason, _log_path(scope))
        message = (
            "The request body is too large."
            if exc.status_code == 413
            else "The request body could not be read."
        )
        await send_error(
            send,
            exc.status_code,
            message,
            as_json=self._api.wants_json(scope, _bytes_or_none(found.get(b"accept"))),
            code="body_too_large" if exc.status_code == 413 else "bad_request",
            detail=exc.reason if self.config.debug else None,
            headers=self._pending_cookie(scope, state),
            page=self.config.error_page,
        )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse handshakes from foreign origins: they carry no Sec-Fetch-Site or token."""
        origin = host = None
        for key, value in scope.get("headers", ()):
            if key == b"origin" and origin is None:
                origin = value.decode("latin-1")
            elif key == b"host" and host is None:
                host = value.decode("latin-1")
        decision = core.decide_websocket(
            self.policy,
            path=route_path(scope),
            scheme=scope.get("scheme", "ws"),
            host=host or self._host(scope, {}),
            origin=origin,
        )
        if isinstance(decision, core.Reject) and not self._route_exempt(scope):
            _log.warning("Forbidden WebSocket (%s): %s", decision.reason, _log_path(scope))
            await emit_for(
                scope, EventType.CSRF_REFUSED, reason=decision.reason, path=_log_path(scope)
            )
            message = await receive()
            if message.get("type") == "websocket.connect":
                # Closing before accepting makes the server answer the handshake with 403.
                await send({"type": "websocket.close", "code": 1008})
            return
        await self.app(scope, receive, send)


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _bytes_or_none(value: str | None) -> bytes | None:
    return None if value is None else value.encode("latin-1")
