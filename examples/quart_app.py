import asyncio
from typing import Any

from quart import Quart, redirect, render_template_string, request, session

from cookieguard import (
    KeyRing,
    LoginThrottle,
    LoginThrottled,
    SQLiteUserStore,
    authenticate,
    client_address,
    get_user_id,
    login,
    safe_next,
)
from cookieguard.auth import default_hasher
from cookieguard.integrations.quart import CookieGuard, login_required
from cookieguard.stores.sqlite import SQLiteStore

app = Quart(__name__)
store = SQLiteStore("site.db")  # sessions and throttle counters
users = SQLiteUserStore("site.db")  # the built-in users table
keys = KeyRing("replace-me-with-32-random-bytes!")
guard = CookieGuard(app, store=store, users=users, secret_key=keys)  # Quart's session: ours
throttle = LoginThrottle(store)  # 10 failures / 15 min per (username, address)

LOGIN = """<form method="post">{{ csrf_input() }}
<input name="username"> <input name="password" type="password"> <button>Log in</button>
</form>"""


@app.get("/login")
async def login_page() -> str:
    return await render_template_string(LOGIN)


@app.post("/login")
async def login_post() -> Any:
    form = await request.form
    user = await authenticate(
        users,
        form.get("username"),
        form.get("password"),
        throttle=throttle,
        address=client_address(request),
    )
    if user is None:
        return await render_template_string(LOGIN)
    await login(request, user)  # new session id, new CSRF secret
    return redirect(safe_next(request.args.get("next")), 303)


@app.errorhandler(LoginThrottled)
async def too_many_attempts(exc: LoginThrottled) -> Any:
    return "Too many attempts", 429, {"Retry-After": str(exc.retry_after)}


@app.post("/logout")
async def logout_post() -> Any:
    session.clear()  # the session is deleted server-side, its cookie cleared
    return redirect("/login", 303)


@app.get("/")
@login_required  # browsers: 303 to /login?next=/; JSON clients: 401
async def home() -> str:
    session["visits"] = session.get("visits", 0) + 1
    return f"Hello, user {get_user_id(request)}: visit {session['visits']}"


@app.post("/hooks/payment")
@guard.exempt  # no CSRF token here: check the sender's signature instead
async def payment_hook() -> dict[str, bool]:
    return {"received": True}


if __name__ == "__main__":  # create a user once, then: uvicorn quart_app:app
    asyncio.run(users.create_user("alice", default_hasher().hash("correct horse battery")))
