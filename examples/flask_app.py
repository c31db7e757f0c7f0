"""A Flask app with server-side sessions, CSRF protection and login.

Run it: ``flask --app examples/flask_app.py run`` (users come from ``users.db``; add one with
``cookieguard adduser NAME --db users.db`` or `SyncSQLiteUserStore.create_user`).
"""

import os

from flask import Flask, redirect, render_template_string, request, session
from werkzeug.wrappers import Response

from cookieguard import SyncSQLiteUserStore
from cookieguard.integrations.flask import CookieGuard, CSRFError, login_required

app = Flask(__name__)
app.config.update(
    SECRET_KEY=os.environ.get("SECRET_KEY", "dev-only-" + "x" * 32),  # signs the auth hash
    COOKIEGUARD_STORE="sqlite:///sessions.db",  # or redis://..., postgresql://...
    COOKIEGUARD_USERS=SyncSQLiteUserStore("users.db"),
)
guard = CookieGuard(app)

PAGE = """<!doctype html><title>Flask + cookieguard</title>
<p>{{ "Hello, user " ~ user if user else "Not logged in" }}; visits: {{ visits }}</p>
<form method="post" action="/login">{{ csrf_input() }}
  <input name="username"> <input name="password" type="password"> <button>Log in</button>
</form>
<form method="post" action="/logout">{{ csrf_input() }}<button>Log out</button></form>
"""


@app.get("/")
def home() -> str:
    session["visits"] = session.get("visits", 0) + 1  # flask.session, kept server-side
    return render_template_string(PAGE, user=guard.user_id(), visits=session["visits"])


@app.post("/login")
def login() -> Response | tuple[str, int]:
    user = guard.authenticate(request.form.get("username"), request.form.get("password"))
    if user is None:  # too many failures from this address answer 429 on their own
        return render_template_string(PAGE, user=None, visits=session.get("visits", 0)), 200
    guard.login(user)  # new session id, new CSRF secret
    return redirect("/", code=303)


@app.post("/logout")
def logout() -> Response:
    guard.logout()  # deleted server-side now
    return redirect("/", code=303)


@app.get("/account")
@login_required  # browsers go to /login?next=/account, API clients get 401 JSON
def account() -> dict[str, str | None]:
    return {"user": guard.user_id()}


@app.post("/hooks/payment")
@guard.exempt  # signed by the payment provider instead
def payment_hook() -> dict[str, bool]:
    return {"received": True}


@app.errorhandler(CSRFError)
def csrf_refused(error: CSRFError) -> tuple[str, int]:
    app.logger.warning("CSRF refusal: %s", error.reason)  # Django's wording
    return "This form is out of date: go back, reload the page and try again.", 403
