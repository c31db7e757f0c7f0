"""Microbenchmarks of cookieguard's sans-IO core, in µs per call.

    bench/.venvs/asgi/bin/python bench/micro.py        # or .venv/bin/python bench/micro.py

Each figure is the fastest of 7 repeats of a timeit loop sized to run ~0.2 s, per call on
one core: other jobs on a shared machine only ever add time, so the minimum is the cost.
"per request" times the core work one logged-in W3 request (a fetch() POST with
X-CSRFToken) needs, done in one function: parse the Cookie header, hash the session id, the
CSRF verdict (Sec-Fetch-Site, Origin, unmask + compare); plus, for a page that renders a
form, one masked token and a Set-Cookie. Results also go to bench/results/micro.json.
"""

from __future__ import annotations

import json
import platform
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

from cookieguard.core.cookies import CookieSpec, parse_cookie_header, render_set_cookie
from cookieguard.core.tokens import (
    hash_session_id,
    mask_secret,
    mask_with_pad,
    new_csrf_secret,
    new_session_id,
    token_matches_secret,
    unmask_token,
)

try:
    from cookieguard.core import csrf as core_csrf
except ImportError:  # the verdict module is not there yet
    core_csrf = None  # type: ignore[assignment]

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_PER_REQUEST_US = 10.0


def per_call_us(fn: Callable[[], object], repeats: int = 7) -> float:
    timer = timeit.Timer(fn)
    number, elapsed = timer.autorange()
    number = max(1, int(number * 0.2 / max(elapsed, 1e-9)))
    runs = timer.repeat(repeat=repeats, number=number)
    return min(runs) / number * 1e6


def cases() -> dict[str, Callable[[], object]]:
    secret = new_csrf_secret()
    token = mask_secret(secret)
    pad = bytes(range(32))
    session_id = new_session_id()
    cookie_header = (
        f"csrftoken={secret}; sessionid={session_id}; _ga=GA1.1.1234567890.1700000000; "
        "theme=dark; lang=en-GB"
    )
    spec = CookieSpec("csrftoken", httponly=False)
    now = 1_800_000_000.0
    found: dict[str, Callable[[], object]] = {
        "new CSRF secret": new_csrf_secret,
        "new session id": new_session_id,
        "mask (fresh masked token)": lambda: mask_secret(secret),
        # The middleware's path: pads come pre-sampled from a 4 KiB buffer of OS randomness.
        "mask with a pre-sampled pad": lambda: mask_with_pad(secret, pad),
        "unmask": lambda: unmask_token(token),
        "unmask + compare (token_matches_secret)": lambda: token_matches_secret(token, secret),
        "parse Cookie header (5 cookies)": lambda: parse_cookie_header(cookie_header),
        "render Set-Cookie (csrftoken, with Expires)": lambda: render_set_cookie(
            spec, secret, max_age=31_449_600, now=now
        ),
        "hash session id (SHA-256 hex)": lambda: hash_session_id(session_id),
    }
    if core_csrf is not None:
        policy = core_csrf.CSRFPolicy()

        def verdict_post() -> object:
            return core_csrf.decide(
                policy,
                method="POST",
                path="/api/records",
                scheme="http",
                host="127.0.0.1:8000",
                origin="http://127.0.0.1:8000",
                sec_fetch_site="same-origin",
                secret=core_csrf.StoredSecret(secret),
                header_token=token,
            )

        def verdict_get() -> object:
            return core_csrf.decide(
                policy,
                method="GET",
                path="/login",
                scheme="http",
                host="127.0.0.1:8000",
                secret=core_csrf.StoredSecret(None),
            )

        def per_request() -> object:
            cookies = parse_cookie_header(cookie_header)
            hash_session_id(cookies["sessionid"])
            result = core_csrf.decide(
                policy,
                method="POST",
                path="/api/records",
                scheme="http",
                host="127.0.0.1:8000",
                origin="http://127.0.0.1:8000",
                sec_fetch_site="same-origin",
                secret=core_csrf.StoredSecret(cookies["csrftoken"]),
                header_token=token,
            )
            return result

        def per_page() -> object:
            per_request()
            mask_secret(secret)
            return render_set_cookie(spec, secret, max_age=31_449_600, now=now)

        found["CSRF verdict, GET (safe method)"] = verdict_get
        found["CSRF verdict, POST fetch (origin + token)"] = verdict_post
        found["per request: cookies + id hash + verdict"] = per_request
        found["per request + form token + Set-Cookie"] = per_page
    return found


def main() -> int:
    results = {name: per_call_us(fn) for name, fn in cases().items()}
    width = max(len(n) for n in results)
    print(
        f"cookieguard core, Python {platform.python_version()}, µs per call (fastest of 7 repeats)"
    )
    for name, us in results.items():
        print(f"  {name:<{width}}  {us:7.2f}")
    for name in (
        "per request: cookies + id hash + verdict",
        "per request + form token + Set-Cookie",
    ):
        total = results.get(name)
        if total is not None:
            verdict = "held" if total <= TARGET_PER_REQUEST_US else "not held"
            print(f"target ≤ {TARGET_PER_REQUEST_US:g} µs, {name}: {total:.2f} µs, {verdict}")
    RESULTS.mkdir(exist_ok=True)
    out = {
        "python": platform.python_version(),
        "us_per_call": {k: round(v, 3) for k, v in results.items()},
        "target_per_request_us": TARGET_PER_REQUEST_US,
    }
    (RESULTS / "micro.json").write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
