import asyncio
import html
import os
from typing import Annotated

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from cookieguard import (
    CookieGuard,
    SQLiteUserStore,
    authenticate,
    csrf_exempt,
    csrf_input,
    login,
    logout,
)
from cookieguard.auth import default_hasher
from cookieguard.integrations.fastapi import CSRFTokenDep, CurrentUser, RequiredUser, SessionDep

users = SQLiteUserStore("shop.db")
api = FastAPI()


@api.get("/", response_class=HTMLResponse)
async def home(request: Request, user: CurrentUser) -> str:
    if user is None:  # CurrentUser is the logged-in User, or None
        return f"""<form method="post" action="/login">{csrf_input(request)}
            <input name="username"> <input name="password" type="password">
            <button>Log in</button></form>"""
    return f"""<p>Hello, {html.escape(user.username)}</p>
        <form method="post" action="/logout">{csrf_input(request)}<button>Log out</button></form>"""


@api.post("/login")
async def do_login(
    request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()]
) -> RedirectResponse:
    user = await authenticate(users, username, password)
    if user is not None:
        await login(request, user)  # new session id, new CSRF secret
    return RedirectResponse("/", status_code=303)


@api.post("/logout")
async def do_logout(request: Request) -> RedirectResponse:
    await logout(request)  # session deleted server-side, cookie cleared
    return RedirectResponse("/", status_code=303)


@api.get("/api/token")
def csrf_token(token: CSRFTokenDep) -> dict[str, str]:
    return {"csrftoken": token}  # for a script's X-CSRFToken header


@api.post("/api/cart/{item}")
def add_to_cart(item: str, user: RequiredUser, session: SessionDep) -> dict[str, list[str]]:
    # Anonymous: 401 JSON under /api/ (browsers elsewhere get a redirect to /login?next=...).
    cart = [*session.get("cart", []), item]
    session["cart"] = cart
    return {"cart": cart}


@api.post("/hooks/payment")
@csrf_exempt  # signed by the payment provider instead
async def payment_hook() -> dict[str, bool]:
    return {"received": True}


app = CookieGuard(
    api,
    store="sqlite:///shop.db",  # or "redis://127.0.0.1:6379/0", "postgresql://...", "memory://"
    secret_key=os.environ.get("SECRET_KEY", "change-me-to-a-long-random-secret"),
    users=users,
)

if __name__ == "__main__":  # create a user once, then: uvicorn fastapi_app:app
    asyncio.run(users.create_user("alice", default_hasher().hash("correct horse")))
