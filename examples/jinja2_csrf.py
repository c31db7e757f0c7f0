from jinja2 import Environment
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from cookieguard.asgi.csrf import CSRFMiddleware
from cookieguard.integrations.jinja2 import install_csrf

env = Environment(autoescape=True)  # or your FileSystemLoader environment
install_csrf(env)  # then, in any template: <form method="post">{{ csrf_input(request) }}
form = env.from_string(
    '<form method="post">{{ csrf_input(request) }}<input name="text"> <button>Send</button></form>'
)


async def show_form(request: Request) -> HTMLResponse:
    return HTMLResponse(form.render(request=request))


async def comment(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"Got {(await request.form()).get('text')}")


routes = [Route("/", show_form, methods=["GET"]), Route("/", comment, methods=["POST"])]
app = CSRFMiddleware(Starlette(routes=routes))
