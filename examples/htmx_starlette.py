from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from cookieguard import CSRFMiddleware, csrf_input, csrf_meta
from cookieguard.integrations.starlette import csrf_token_endpoint

# Read the token when each request is made: hx-boost swaps only <body>, so a value kept from
# the first page goes stale when the secret rotates (at login). The csrftoken cookie always
# holds the current secret (accepted in the header, as Django does); the meta tag is the
# fallback for an app that keeps the secret in the session.
LISTENER = """<script>
document.addEventListener("htmx:configRequest", (event) => {
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content;
  const token = cookie ? cookie.slice("csrftoken=".length) : meta("csrf-token");
  if (token) event.detail.headers[meta("csrf-header") || "X-CSRFToken"] = token;
});
</script>"""
HTMX = (
    '<script src="https://unpkg.com/htmx.org@2.0.11/dist/htmx.min.js" integrity="sha384-'
    '2OatzQy1H+Zd/IIrjr1TcuDGqLXeHhbooAyJY1KdQMKnr4LZ22k31GBLdYKHmVjg" crossorigin></script>'
)
likes = {"count": 0}


def counter(request: Request) -> str:
    # A plain form too: without JavaScript it posts and the server redirects back.
    return (
        f'<form id="likes" method="post" action="/like" hx-post="/like" hx-swap="outerHTML">'
        f"{csrf_input(request)}<button>Like ({likes['count']})</button></form>"
    )


async def home(request: Request) -> HTMLResponse:
    head = f"<head>{csrf_meta(request)}{HTMX}{LISTENER}</head>"
    return HTMLResponse(f"<!doctype html><html>{head}<body>{counter(request)}</body></html>")


async def like(request: Request) -> HTMLResponse:
    likes["count"] += 1
    if request.headers.get("hx-request") == "true":
        return HTMLResponse(counter(request))  # the fragment HTMX swaps in
    return HTMLResponse(status_code=303, headers={"location": "/"})


routes = [
    Route("/", home, methods=["GET"]),
    Route("/like", like, methods=["POST"]),
    Route("/csrf", csrf_token_endpoint, methods=["GET"]),  # for a single-page app
]
app = CSRFMiddleware(Starlette(routes=routes))
