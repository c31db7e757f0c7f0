"""Settings as frozen dataclasses, validated on construction.

Defaults are Django's wire names and lifetimes, so a Django front end and a cookieguard service
can share cookies. Secrets never appear in a repr.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, overload
from urllib.parse import urlsplit

from cookieguard.core._client_address import ADDRESS_MODES, AddressMode
from cookieguard.core.cookies import CookieSpec, CookieSpelling, SameSite
from cookieguard.errors import ConfigError

if TYPE_CHECKING:  # the drivers' type, not imported at run time (config sits below them)
    from cookieguard.asgi._responses import RefusalPage

__all__ = [
    "CSRFConfig",
    "CookieConfig",
    "ONE_YEAR",
    "RequiredSeconds",
    "Seconds",
    "SessionConfig",
    "THIRTY_DAYS",
    "TWO_WEEKS",
]

ONE_YEAR = 31_449_600  # Django's CSRF_COOKIE_AGE (52 weeks)
TWO_WEEKS = 1_209_600  # Django's SESSION_COOKIE_AGE
THIRTY_DAYS = 2_592_000  # the default absolute session lifetime (ASVS 5 V7.3.2)


@dataclass(frozen=True)
class CookieConfig:
    """Attributes of one cookie."""

    name: str
    """Cookie name. With `host_prefix` the browser-visible name gets ``__Host-`` in front."""
    path: str = "/"
    """Cookie Path."""
    domain: str | None = None
    """Cookie Domain; None (the default) makes a host-only cookie, the safer choice."""
    secure: bool | None = None
    """Secure flag. None: set it exactly when the request arrived over https."""
    httponly: bool = True
    """Hide the cookie from JavaScript."""
    samesite: SameSite | None = "Lax"
    """SameSite attribute; None omits it."""
    host_prefix: bool = False
    """Use the ``__Host-`` prefix (Secure, Path=/, no Domain): immune to subdomain planting."""
    partitioned: bool = False
    """CHIPS (``Partitioned``): a separate cookie per top-level site, for an app embedded in
    other sites' frames. Needs ``secure=True`` (or `host_prefix`): browsers refuse a
    Partitioned cookie without Secure, so the config refuses it too."""
    spelling: CookieSpelling = "rfc"
    """How Set-Cookie attribute names are written: ``"rfc"`` (``Path=/; HttpOnly``) or
    ``"starlette"``, the layout Starlette's SessionMiddleware sends (see `CookieSpelling`)."""

    def __post_init__(self) -> None:
        if self.host_prefix and (self.domain is not None or self.path != "/"):
            raise ConfigError("host_prefix cookies must have path='/' and no domain")
        if self.host_prefix and self.secure is False:
            raise ConfigError("host_prefix cookies are always Secure")
        if self.partitioned and not (self.secure or self.host_prefix):
            raise ConfigError("partitioned cookies need secure=True (browsers require Secure)")
        if not self.path.startswith("/"):
            raise ConfigError("cookie path must start with '/'")
        # Validate the name and attribute combination once, for both schemes.
        self.spec(https=True)

    @property
    def wire_name(self) -> str:
        """The name as browsers store and send it."""
        return f"__Host-{self.name}" if self.host_prefix else self.name

    def spec(self, *, https: bool) -> CookieSpec:
        """The concrete attributes for a response to an http or https request."""
        secure = True if self.host_prefix else (https if self.secure is None else self.secure)
        try:
            return CookieSpec(
                name=self.wire_name,
                path=self.path,
                domain=self.domain,
                secure=secure,
                httponly=self.httponly,
                samesite=self.samesite,
                partitioned=self.partitioned,
                spelling=self.spelling,
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc


class Seconds:
    """A lifetime field: takes whole seconds (int) or a `timedelta`, reads as int seconds.

    The config's `__post_init__` turns a `timedelta` into int seconds (`_normalise`) and
    checks the range, so code reading a config (and type checkers) only ever see ints. At
    run time this is a non-data descriptor: the instance's own value shadows it, and reading
    ``config.idle_timeout`` costs a plain attribute lookup (the planner reads it per request).
    """

    __slots__ = ("default",)

    def __init__(self, default: int | None) -> None:
        self.default: int | None = default

    @overload
    def __get__(self, obj: None, owner: Any) -> int | None: ...
    @overload
    def __get__(self, obj: object, owner: Any) -> int | None: ...
    def __get__(self, obj: object | None, owner: Any) -> int | None:
        return self.default  # only reached on the class: dataclasses take it as the default

    if TYPE_CHECKING:  # what the generated __init__ accepts; at run time none is needed

        def __set__(self, obj: object, value: int | timedelta | None) -> None: ...


class RequiredSeconds(Seconds):
    """A `Seconds` field that cannot be None."""

    if TYPE_CHECKING:

        @overload
        def __get__(self, obj: None, owner: Any) -> int: ...
        @overload
        def __get__(self, obj: object, owner: Any) -> int: ...
        def __get__(self, obj: object | None, owner: Any) -> int: ...
        def __set__(self, obj: object, value: int | timedelta) -> None:  # type: ignore[override]
            ...


def _normalise(config: object, name: str, *, optional: bool) -> int | None:
    """Replace a `timedelta` field of a frozen `config` by its int seconds; the value."""
    value = config.__dict__[name]
    if isinstance(value, timedelta):
        whole = value // timedelta(seconds=1)
        if timedelta(seconds=whole) != value:
            raise ConfigError(f"{name} must be a whole number of seconds, not {value!r}")
        object.__setattr__(config, name, whole)
        return whole
    if (value is None and optional) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ConfigError(f"{name} takes int seconds or a timedelta, not {type(value).__name__}")


def _api_prefixes(prefixes: Sequence[str]) -> tuple[str, ...]:
    if isinstance(prefixes, str):
        raise ConfigError("api_prefixes takes a sequence of paths, e.g. ('/api/',), not a str")
    result = tuple(prefixes)
    for prefix in result:
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            raise ConfigError(f"api prefix {prefix!r} must be a path starting with '/'")
    return result


def _normalise_origin(origin: str) -> str:
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ConfigError(
            f"trusted origin {origin!r} must look like 'https://example.com' or "
            "'https://*.example.com' (scheme and host, no path)"
        )
    return f"{parts.scheme}://{parts.netloc.lower()}"


@dataclass(frozen=True)
class CSRFConfig:
    """CSRF protection settings (Django-compatible names by default)."""

    cookie: CookieConfig = field(
        default_factory=lambda: CookieConfig(name="csrftoken", httponly=False)
    )
    """The cookie holding the bare secret; readable by JavaScript so SPAs can send the header."""
    cookie_max_age: Seconds = Seconds(ONE_YEAR)
    """Lifetime of the CSRF cookie (seconds or a `timedelta`); None: a browser-session cookie."""
    header_name: str = "X-CSRFToken"
    """Request header that may carry the token."""
    form_field: str = "csrfmiddlewaretoken"
    """Form field that may carry the token."""
    trusted_origins: Sequence[str] = ()
    """Other origins allowed to send unsafe requests: exact, or ``https://*.example.com``."""
    allow_same_site: bool = False
    """Accept ``Sec-Fetch-Site: same-site`` (sibling subdomains) without a trusted origin."""
    require_token: bool = True
    """False: tokenless mode, fetch-metadata and Origin checks only (as Go does)."""
    exempt_paths: Sequence[str] = ()
    """Exact paths that skip the checks; matched after normalisation, never as prefixes."""
    max_body_size: int = 2_621_440
    """Largest request body read while looking for the form token (Django's 2.5 MiB); 413 beyond."""
    use_session: bool = False
    """Keep the secret in the session (key ``_csrftoken``) instead of the cookie.

    `cookie` is then unused: the https Referer check trusts the session cookie's domain (as
    Django uses ``SESSION_COOKIE_DOMAIN`` with ``CSRF_USE_SESSIONS``)."""
    debug: bool = False
    """Show the precise rejection reason in 403 pages (never enable in production)."""
    api_prefixes: Sequence[str] = ()
    """Path prefixes of the app's API, e.g. ``("/api/",)``: refusals there (403, 400, 413) are
    always JSON, whatever the Accept header says. Elsewhere JSON goes to clients that ask for
    it and HTML to everyone else. Matched against the path the router sees (without
    ``root_path``); ``"/api/"`` also covers ``/api`` itself."""
    error_page: RefusalPage | None = None
    """Renders the middleware's HTML refusals (403, and 400/413 for unreadable form bodies) in
    the app's look: a function from a `cookieguard.Refusal` to an HTML
    document, whose ``detail`` carries the reason when `debug` is on. JSON refusals are
    unchanged. If it raises, the built-in page is sent (and the error logged). None: the
    built-in page."""

    def __post_init__(self) -> None:
        if self.error_page is not None and not callable(self.error_page):
            raise ConfigError("error_page must be a function from a Refusal to an HTML str")
        object.__setattr__(
            self, "trusted_origins", tuple(_normalise_origin(o) for o in self.trusted_origins)
        )
        object.__setattr__(self, "api_prefixes", _api_prefixes(self.api_prefixes))
        object.__setattr__(self, "exempt_paths", tuple(self.exempt_paths))
        if self.max_body_size < 1024:
            raise ConfigError("max_body_size must be at least 1024 bytes")
        max_age = _normalise(self, "cookie_max_age", optional=True)
        if max_age is not None and max_age <= 0:
            raise ConfigError("cookie_max_age must be positive or None")
        if not self.header_name or not self.form_field:
            raise ConfigError("header_name and form_field must not be empty")


@dataclass(frozen=True)
class SessionConfig:
    """Server-side session settings."""

    cookie: CookieConfig = field(default_factory=lambda: CookieConfig(name="sessionid"))
    """The session cookie: HttpOnly and SameSite=Lax by default."""
    idle_timeout: RequiredSeconds = RequiredSeconds(TWO_WEEKS)
    """Inactivity (seconds or a `timedelta`) after which a session ends (sliding expiry)."""
    absolute_timeout: Seconds = Seconds(THIRTY_DAYS)
    """Time (seconds or a `timedelta`) after login (or creation) after which a session ends,
    however active it is.

    Thirty days by default, so a stolen cookie that is used now and then still dies (ASVS 5
    V7.3.2 asks for an absolute limit). None removes the limit: a session used at least once
    per `idle_timeout` then lives forever.
    """
    touch_interval: RequiredSeconds = RequiredSeconds(60)
    """How often (at most) a read-only session's idle expiry is refreshed in the store
    (seconds or a `timedelta`)."""
    browser_session: bool = False
    """Send the cookie without Max-Age (ends with the browser); server expiry still applies."""
    api_prefixes: Sequence[str] = ()
    """Path prefixes of the app's API, e.g. ``("/api/",)``: the middleware's own refusals there
    (503 store unavailable, 507 session too large) are always JSON, whatever the Accept header
    says; elsewhere JSON only for clients that ask for it. Matched as `CSRFConfig.api_prefixes`."""
    error_page: RefusalPage | None = None
    """Renders the middleware's HTML refusals (503, 507) in the app's look, as
    `CSRFConfig.error_page` does. It must not need the store: it runs while the store is down."""
    client_address: AddressMode = "truncated"
    """How much of the client's address a new session record keeps (shown in the user's
    session list) and security events carry: ``"truncated"`` its network (IPv4 /24, IPv6
    /48), ``"full"`` the address, ``"none"`` nothing. It is the address the ASGI server
    reports: behind a proxy, run the server with its trusted-proxy option."""

    def __post_init__(self) -> None:
        if self.error_page is not None and not callable(self.error_page):
            raise ConfigError("error_page must be a function from a Refusal to an HTML str")
        if self.client_address not in ADDRESS_MODES:
            raise ConfigError("client_address must be 'truncated', 'full' or 'none'")
        object.__setattr__(self, "api_prefixes", _api_prefixes(self.api_prefixes))
        idle = _normalise(self, "idle_timeout", optional=False)
        absolute = _normalise(self, "absolute_timeout", optional=True)
        touch = _normalise(self, "touch_interval", optional=False)
        if idle is None or idle <= 0:
            raise ConfigError("idle_timeout must be positive")
        if absolute is not None and absolute <= 0:
            raise ConfigError("absolute_timeout must be positive or None")
        if touch is None or touch < 0:
            raise ConfigError("touch_interval must not be negative")
