import html

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from cookieguard.asgi.csrf import CSRFMiddleware, csrf_exempt, csrf_input, get_csrf_token
from cookieguard.config import CSRFConfig

api = FastAPI()
api.add_middleware(
    CSRFMiddleware,
    config=CSRFConfig(trusted_origins=["https://*.example.com"]),
)


@api.get("/", response_class=HTMLResponse)
async def page(request: Request) -> str:
    return f"""
    <form method="post" action="/comment">
      {csrf_input(request)}
      <input name="text"> <button>Send</button>
    </form>
    <button id="like" data-csrf="{html.escape(get_csrf_token(request), quote=True)}">Like</button>
    <script>
      const like = document.getElementById("like");
      like.onclick = () =>
        fetch("/like", {{method: "POST", headers: {{"X-CSRFToken": like.dataset.csrf}}}});
    </script>"""


@api.post("/comment")
async def comment(request: Request) -> dict[str, str]:
    form = await request.form()  # the body the middleware read is replayed unchanged
    return {"text": str(form["text"])}


@api.post("/like")
async def like() -> dict[str, bool]:
    return {"liked": True}


@api.post("/hooks/payment")
@csrf_exempt  # signed by the payment provider instead; matched on this exact route only
async def payment_hook(request: Request) -> dict[str, bool]:
    return {"received": True}
