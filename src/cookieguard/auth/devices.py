"""Friendly device names for a session list: "Firefox on Windows", "Safari on iPhone".

The User-Agent is parsed with `ua-parser` (the maintained Python port of uap-core's rules),
an optional dependency: ``pip install 'cookieguard[devices]'``. Without it every session is
"Unknown device". The string comes from the client, so anything goes: an unknown, empty,
huge or garbage value is "Unknown device", and a parser error is logged and named the same
way, never a 500.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

_parse: Callable[[str], Any] | None
try:
    from ua_parser import parse as _ua_parse
except ImportError:  # the optional extra (cookieguard[devices]) is not installed
    _parse = None
else:
    _parse = _ua_parse

__all__ = ["MAX_USER_AGENT", "UNKNOWN", "device_name", "parser_available"]

_log = logging.getLogger("cookieguard.auth")

UNKNOWN = "Unknown device"
MAX_USER_AGENT = 1024
"""Longer strings are not parsed (real browsers send a few hundred characters at most)."""

# uap-core names mobile builds apart ("Mobile Safari", "Chrome Mobile iOS"); the page names
# the device instead, so the browser is just "Safari" or "Chrome".
_BROWSERS = {
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Android WebView",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
    "HeadlessChrome": "Headless Chrome",
}
_SYSTEMS = {"Mac OS X": "macOS"}
_DEVICES = frozenset({"iPhone", "iPad", "iPod"})  # named after the device, not "iOS"


def parser_available() -> bool:
    """Whether `ua-parser` is installed (else every device is `UNKNOWN`)."""
    return _parse is not None


@functools.lru_cache(maxsize=256)
def device_name(user_agent: str | None) -> str:
    """A short human name for the browser and device behind `user_agent`."""
    if _parse is None or not isinstance(user_agent, str):
        return UNKNOWN
    if not user_agent or len(user_agent) > MAX_USER_AGENT or not user_agent.isprintable():
        return UNKNOWN
    try:
        result = _parse(user_agent)
    except Exception:  # a parser bug must not take the page down
        _log.warning("could not parse a User-Agent of %d characters", len(user_agent))
        return UNKNOWN
    browser = result.user_agent.family if result.user_agent else None
    browser = _BROWSERS.get(browser, browser) if browser and browser != "Other" else None
    device = result.device.family if result.device else None
    system = result.os.family if result.os else None
    if device in _DEVICES:
        place: str | None = device
    elif system and system != "Other":
        place = _SYSTEMS.get(system, system)
    else:
        place = None
    if browser and place:
        return f"{browser} on {place}"
    return browser or place or UNKNOWN
