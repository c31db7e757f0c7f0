"""Account security in Flask: remember me, recent-login ("sudo") pages, a session centre,
security events, and the CSRF token for HTMX and single-page apps.

Run it: ``flask --app examples/flask_account.py run`` (users come from ``users.db``; add one
with ``cookieguard adduser NAME --db users.db``).
"""

import logging
import os

from flask import Flask, redirect, render_template_string, request
from werkzeug.wrappers import Response

from cookieguard import SyncSQLiteUserStore
from cookieguard.core.redirects import safe_next
from cookieguard.events import SecurityEvent
from cookieguard.integrations.flask import CookieGuard, csrf_token_view, require_recent_login


def audit(event: SecurityEvent) -> None:  # a plain function: Flask workers have no loop
    logging.getLogger("audit").info("%s %s", event.type.value, event.fields())


app = Flask(__name__)
app.config.update(
    SECRET_KEY=os.environ.get("SECRET_KEY", "dev-only-" + "x" * 32),
    COOKIEGUARD_STORE="sqlite:///sessions.db",  # remember-me series live here too
    COOKIEGUARD_USERS=SyncSQLiteUserStore("users.db"),
    COOKIEGUARD_REMEMBER=True,  # opt-in persistent login (30 days, 30 s grace)
    COOKIEGUARD_MAX_SESSIONS_PER_USER=5,  # the oldest session ends beyond five
    COOKIEGUARD_ON_SECURITY_EVENT=audit,
)
guard = CookieGuard(app)
sudo = require_recent_login(max_age=600, fallback_next="/sessions")

PAGE = """<!doctype html><head>{{ csrf_meta() }}</head>
<body hx-headers='{"X-CSRFToken": "{{ csrf_token() }}"}'>
<form method="post" action="/login">{{ csrf_input() }}
  <input name="username"> <input name="password" type="password">
  <label><input type="checkbox" name="remember" value="1"> Remember me</label>
  <button>Log in</button></form>
{% for s in sessions %}<form method="post" action="/sessions/revoke">{{ csrf_input() }}
  {{ s.device }} from {{ s.client_address or "?" }}{{ " (this one)" if s.current }}
  <button name="handle" value="{{ s.handle }}">End</button></form>{% endfor %}
<form method="post" action="/sessions/others">{{ csrf_input() }}
  <button>Log out everywhere else</button></form>
</body>"""
REAUTH = """<!doctype html><form method="post">{{ csrf_input() }}
<input name="password" type="password"> <button>Confirm it is you</button></form>"""


@app.get("/")
def home() -> str:
    return render_template_string(PAGE, sessions=[])


@app.post("/login")
def login() -> Response | str:
    user = guard.authenticate(request.form.get("username"), request.form.get("password"))
    if user is None:
        return render_template_string(PAGE, sessions=[])
    guard.login(user)
    if request.form.get("remember") == "1":
        guard.remember(user)  # HttpOnly, SameSite=Lax, __Host- over HTTPS
    return redirect("/sessions", code=303)


@app.get("/sessions")
def sessions() -> str:  # remember-me series are listed too ("[remember me] ...")
    return render_template_string(PAGE, sessions=guard.sessions())


@app.route("/reauth", methods=["GET", "POST"])
def reauth() -> Response | str:
    if request.method == "POST" and guard.reauthenticate(request.form.get("password")):
        return redirect(safe_next(request.args.get("next"), "/sessions"), code=303)
    return render_template_string(REAUTH)  # a wrong password counts toward the throttle


@app.post("/sessions/revoke")
@sudo  # a stale login goes to /reauth first (403 JSON for API clients)
def revoke() -> Response:
    guard.revoke_session(request.form.get("handle"))
    return redirect("/sessions", code=303)


@app.post("/sessions/others")
@sudo
def others() -> Response:
    guard.revoke_other_sessions()
    return redirect("/sessions", code=303)


@app.post("/logout")
def logout() -> Response:
    guard.logout()  # the session and this browser's remember-me series end
    return redirect("/", code=303)


app.get("/csrf")(csrf_token_view)  # {"csrfToken": ..., "headerName": "X-CSRFToken"}
