"""How the demo's pages show times, durations, devices and throttling to a person."""

from __future__ import annotations

import time

from cookieguard.auth import REMEMBER_LABEL
from cookieguard.auth.devices import device_name

__all__ = ["THROTTLED", "device_label", "iso", "minutes", "when"]


def when(epoch: float | None) -> str:
    """A date and minute for a person reading the page, in UTC (the demo knows no time zone)."""
    if epoch is None:
        return "date unknown"  # a record from before the demo kept dates
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def iso(epoch: float | None) -> str:
    """The same moment for a ``<time datetime>`` attribute (machine-readable, UTC)."""
    if epoch is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def minutes(seconds: int) -> str:
    """A wait as a person would say it, rounded up so "try again in" is never too early."""
    if seconds < 60:
        return "a few seconds"
    count = (seconds + 59) // 60
    return f"{count} minute{'s' if count != 1 else ''}"


def device_label(user_agent: str | None) -> str:
    """The "my sessions" device column; a remember-me series says so before its device."""
    if user_agent is not None and user_agent.startswith(REMEMBER_LABEL):
        return "Remember me: " + device_name(user_agent[len(REMEMBER_LABEL) :] or None)
    return device_name(user_agent)


THROTTLED = {
    "address": "Too many failed logins from your network",
    "account": "Too many failed attempts for this username from new places",
    "busy": "Too many logins at once from your network",
}
"""What the login form says for each `LoginThrottled.reason` (see cookieguard.core._throttle);
the ``"user"`` limit has the default message."""
