"""Microbenchmarks of cookieguard's sans-IO core, in µs per call.

    bench/.venvs/asgi/bin/python bench/micro.py        # or .venv/bin/python bench/micro.py

Each figure is the fastest of 7 repeats of a timeit loop sized to run ~0.2 s, per call on
one core: other jobs on a shared machine only ever add time, so the minimum is the cost.
"per request" times the core work one logged-in W3 request (a fetch() POST with
X-CSRFToken) needs, done in one function: parse the Cookie header, hash the session id, the
CSRF verdict (Sec-Fetch-Site, Origin, unmask + compare); plus, for a page that renders a
form, one masked token and a Set-Cookie. `--update` writes bench/results/micro.json (tracked:
the figures BENCHMARKS.md quotes); `--out PATH` writes elsewhere; by default nothing is written.

A composite (e.g. the per-page figure, which runs the per-request work and more) that
measures below one of its parts is a measurement artefact (the machine was busier while the
part ran): it is flagged, and the figures of that run are not to be quoted.
"""

from __future__ import annotations

import argparse
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
# composite -> the cases it runs in full (so it can never truly cost less than any of them)
PARTS = {
    "per request: cookies + id hash + verdict": ("CSRF verdict, POST fetch (origin + token)",),
    "per request + form token + Set-Cookie": ("per request: cookies + id hash + verdict",),
}


def composite_warnings(results: dict[str, float]) -> list[str]:
    """One line per composite that measured below one of its parts."""
    out = []
    for composite, parts in PARTS.items():
        total = results.get(composite)
        for part in parts:
            alone = results.get(part)
            if total is not None and alone is not None and total < alone:
                out.append(
                    f"warning: {composite!r} ({total:.2f} µs) measured below its part "
                    f"{part!r} ({alone:.2f} µs): noise; rerun on a quieter machine"
                )
    return out


def per_call_us(fn: Callable[[], object], repeats: int = 7, seconds: float = 0.2) -> float:
    timer = timeit.Timer(fn)
    number, elapsed = timer.autorange()
    number = max(1, int(number * seconds / max(elapsed, 1e-9)))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="write bench/results/micro.json")
    parser.add_argument("--out", type=Path, help="write the results here (JSON)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    results = {name: per_call_us(fn, args.repeats) for name, fn in cases().items()}
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
    warnings = composite_warnings(results)
    for line in warnings:
        print(line, file=sys.stderr)
    out = {
        "python": platform.python_version(),
        "us_per_call": {k: round(v, 3) for k, v in results.items()},
        "target_per_request_us": TARGET_PER_REQUEST_US,
        "warnings": warnings,
    }
    target = args.out or (RESULTS / "micro.json" if args.update else None)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
