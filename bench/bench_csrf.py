"""In-process cost of CSRFMiddleware: the same trivial Starlette app with and without it.

No server and no sockets: prebuilt ASGI scopes go straight into the app with a constant
`receive` and a no-op `send`, so the only difference between the two sides is the middleware.
Times are CPU time of this process (`time.process_time`), so waiting for a CPU on a shared
machine does not count; many short rounds alternate between the variants (so what load does
to caches hits both alike) and the ratio is the median of the per-round ratios. Also reports
microseconds per call of the core operations.

Run: .venv/bin/python bench/bench_csrf.py [--calls N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import timeit
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from cookieguard.asgi.csrf import CSRFMiddleware, CSRFState, get_csrf_token
from cookieguard.config import ONE_YEAR, CSRFConfig
from cookieguard.core import csrf as core
from cookieguard.core.cookies import find_cookie, parse_cookie_header, render_set_cookie
from cookieguard.core.tokens import mask_secret, new_csrf_secret, token_matches_secret

SECRET = new_csrf_secret()
TOKEN = mask_secret(SECRET)
COOKIE = f"sessionid=abcdefghijklmnopqrstuvwxyz012345; csrftoken={SECRET}; theme=dark".encode()
COMMON = [
    (b"host", b"example.com"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) bench"),
    (b"accept", b"text/html,application/xhtml+xml"),
    (b"accept-language", b"en-GB,en;q=0.9"),
    (b"accept-encoding", b"gzip, deflate, br"),
    (b"cookie", COOKIE),
]


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def form(request: Request) -> PlainTextResponse:
    # Without the middleware the page carries a fixed string of the same length instead.
    if "cookieguard.csrf" in request.scope:
        return PlainTextResponse(get_csrf_token(request))
    return PlainTextResponse(TOKEN)


def make_scope(method: str, path: str, extra: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": COMMON + extra,
        "server": ("example.com", 443),
        "client": ("127.0.0.1", 40000),
    }


SCENARIOS = {
    "GET, no token asked": make_scope("GET", "/", []),
    "GET, page renders a token": make_scope("GET", "/form", []),
    "POST, X-CSRFToken + Origin": make_scope(
        "POST",
        "/",
        [
            (b"origin", b"https://example.com"),
            (b"sec-fetch-site", b"same-origin"),
            (b"x-csrftoken", TOKEN.encode()),
            (b"content-length", b"0"),
        ],
    ),
}


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Any) -> None:
    return None


async def _run(app: Callable[..., Any], scope: dict[str, Any], calls: int) -> float:
    """Seconds per call over `calls` sequential calls (scopes copied: apps mutate them)."""
    start = time.process_time()
    for _ in range(calls):
        await app(dict(scope), _receive, _send)
    return (time.process_time() - start) / calls


async def measure(calls: int, rounds: int) -> list[tuple[str, float, float, float]]:
    """Per scenario: median µs without, median µs with, median of per-round ratios."""
    routes = [Route("/", ok, methods=["GET", "POST"]), Route("/form", form)]
    bare = Starlette(routes=routes)
    guarded = CSRFMiddleware(Starlette(routes=routes), CSRFConfig())
    results = []
    for name, scope in SCENARIOS.items():
        await _run(bare, scope, calls)  # warm up both
        await _run(guarded, scope, calls)
        without, with_, ratios = [], [], []
        for i in range(rounds):
            # Alternate which side goes first, so neither always gets the warmer cache.
            if i % 2:
                a = await _run(bare, scope, calls)
                b = await _run(guarded, scope, calls)
            else:
                b = await _run(guarded, scope, calls)
                a = await _run(bare, scope, calls)
            without.append(a)
            with_.append(b)
            ratios.append(b / a)
        results.append(
            (name, statistics.median(without), statistics.median(with_), statistics.median(ratios))
        )
    return results


def core_costs(number: int) -> list[tuple[str, float]]:
    policy = core.CSRFPolicy()
    middleware = CSRFMiddleware(ok, CSRFConfig())
    scope = SCENARIOS["GET, page renders a token"]
    state = CSRFState(middleware.config, middleware._cookie_needle, scope["headers"])
    state.load(SECRET)
    spec = CSRFConfig().cookie.spec(https=True)

    def set_cookie() -> object:
        state.cookie_pending = True  # as after a new or rotated secret: the cookie goes out once
        return middleware._set_cookie(scope, state)

    def full_verdict() -> object:
        return core.decide(
            policy,
            method="POST",
            path="/submit",
            scheme="https",
            host="example.com",
            origin="https://example.com",
            sec_fetch_site="same-origin",
            secret=core.StoredSecret(SECRET),
            header_token=TOKEN,
        )

    cases: list[tuple[str, Callable[[], object]]] = [
        ("mask (new token)", lambda: mask_secret(SECRET)),
        ("unmask + compare", lambda: token_matches_secret(TOKEN, SECRET)),
        # What the middleware runs to find its cookie (CSRFState, on first use of the secret).
        ("cookie lookup (middleware)", lambda: find_cookie(COMMON, middleware._cookie_needle)),
        ("cookie header full parse", lambda: parse_cookie_header(COOKIE)),
        ("Set-Cookie header (middleware)", set_cookie),
        (
            "Set-Cookie full render (core)",
            lambda: render_set_cookie(spec, SECRET, max_age=ONE_YEAR),
        ),
        ("verdict (POST, all steps)", full_verdict),
    ]
    out = []
    for name, fn in cases:
        timer = timeit.Timer(fn, timer=time.process_time)
        best = min(timer.repeat(number=number, repeat=5)) / number
        out.append((name, best * 1e6))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2_000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=51, help="interleaved rounds")
    args = parser.parse_args()

    print("core work, µs per call (best of 5)")
    costs = core_costs(20_000)
    for name, micros in costs:
        print(f"  {name:<32} {micros:6.2f}")
    per_request = {"mask (new token)", "unmask + compare", "cookie lookup (middleware)"}
    per_request |= {"Set-Cookie header (middleware)"}
    total = sum(m for n, m in costs if n in per_request)
    print(f"  {'sum: mask+unmask+lookup+header':<32} {total:6.2f}")

    print(f"\nStarlette trivial endpoint, {args.rounds} interleaved rounds of {args.calls} calls")
    print(
        f"  {'scenario':<30} {'bare µs':>8} {'+CSRF µs':>9} {'added µs':>9} {'ratio':>6} "
        f"{'throughput':>11}"
    )
    for name, without, with_, ratio in asyncio.run(measure(args.calls, args.rounds)):
        print(
            f"  {name:<30} {without * 1e6:8.2f} {with_ * 1e6:9.2f} "
            f"{(with_ - without) * 1e6:9.2f} {ratio:6.3f} {(1 / ratio - 1) * 100:+10.1f}%"
        )


if __name__ == "__main__":
    main()
