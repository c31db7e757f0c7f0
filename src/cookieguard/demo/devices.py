"""Friendly device names for the sessions page: "Firefox on Windows", "Safari on iPhone".

The User-Agent is parsed with `ua-parser` (the maintained Python port of uap-core's rules).
The string comes from the client, so anything goes: an unknown, empty, huge or garbage value
is "Unknown device", and a parser error is logged and named the same way, never a 500.
"""

from __future__ import annotations

import functools
import logging

from ua_parser import parse

logger = logging.getLogger("cookieguard.demo")

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


@functools.lru_cache(maxsize=256)
def device_name(user_agent: str | None) -> str:
    """A short human name for the browser and device behind `user_agent`."""
    if not user_agent or len(user_agent) > MAX_USER_AGENT:
        return UNKNOWN
    try:
        result = parse(user_agent)
    except Exception:  # a parser bug must not take the page down
        logger.warning("could not parse a User-Agent of %d characters", len(user_agent))
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
