from fastapi import FastAPI, Request

from cookieguard.asgi.session import SessionMiddleware, get_session
from cookieguard.stores import open_store

api = FastAPI()


@api.post("/cart/{item}")
async def add_to_cart(item: str, request: Request) -> dict[str, list[str]]:
    cart = [*request.session.get("cart", []), item]
    request.session["cart"] = cart  # only this key is written back
    return {"cart": cart}


@api.post("/logout")
async def logout(request: Request) -> dict[str, bool]:
    get_session(request).flush()  # record deleted, cookie cleared
    return {"ok": True}


app = SessionMiddleware(api, open_store("sqlite:///sessions.db"))
# With CSRF protection, sessions go outside: SessionMiddleware(CSRFMiddleware(api), store)
