"""The demo's HTML pages: login, records (add, delete), my sessions, logout.

The records page is enhanced with HTMX (``hx-post`` on its forms, answered with the
``records_section.html`` fragment, see `wants_fragment`) and works the same without it.

Plain Starlette endpoints rendering Jinja2 templates (`Jinja2Templates`), as any app would
write them: who the user is comes from the session (`get_user_id`, no user query), every
form carries a CSRF token from cookieguard's `csrf_input(request)` template helper, and
forms are read with `request.form(...)` within bounds (`read_form`). Every page carries the
inspector panel (`cookieguard.demo._inspector`) unless the app was made without it.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from cookieguard import (
    LoginThrottle,
    LoginThrottled,
    ManagedUserStore,
    UserStore,
    authenticate,
    change_password,
    client_address,
    get_user,
    get_user_id,
    is_safe_redirect,
    list_sessions,
    login,
    logout,
    revoke_other_sessions,
    revoke_session,
    safe_next,
)
from cookieguard.auth import reauthenticate, remember
from cookieguard.demo._api import current_user_id
from cookieguard.demo._db import DemoDatabase, validate_record_text
from cookieguard.demo._format import THROTTLED, device_label, iso, minutes, when
from cookieguard.demo._forms import HX_VARY, form_text, read_form, wants_fragment
from cookieguard.demo._inspector import BEFORE_LOGIN_KEY, inspect, remember_before_login

USERNAME_KEY = "demo_username"
"""Session key holding the display name, so pages never query the users table."""


class Pages:
    """The HTML endpoints, bound to the site's database, users, throttle and templates."""

    def __init__(
        self,
        templates: Jinja2Templates,
        db: DemoDatabase,
        users: UserStore,
        throttle: LoginThrottle,
        *,
        csrf_cookie: str = "csrftoken",
        inspector: bool = True,
    ) -> None:
        self.templates = templates
        self.db = db
        self.users = users
        self.throttle = throttle
        self.csrf_cookie = csrf_cookie
        self.inspector = inspector

    async def _page(
        self,
        request: Request,
        name: str,
        context: dict[str, Any],
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        # The templates put `csrf_input(request)` in every form (cookieguard's Jinja2 helper).
        facts = await inspect(request, self.csrf_cookie) if self.inspector else None
        return self.templates.TemplateResponse(
            request, name, {**context, "inspector": facts}, status_code=status, headers=headers
        )

    # -- login / logout --------------------------------------------------------------

    async def _login_form(
        self,
        request: Request,
        *,
        next_url: str,
        error: str | None = None,
        entered: str = "",
        throttled: bool = False,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        # The login form never reads the session: anonymous visitors cost no session work.
        context = {
            "username": None,
            "next": next_url if is_safe_redirect(next_url) else "",
            "error": error,
            "entered_username": entered,
            "throttled": throttled,
        }
        return await self._page(request, "login.html", context, status, headers)

    async def login_page(self, request: Request) -> Response:
        """GET /login: the form (also when logged in: logging in again switches account)."""
        return await self._login_form(request, next_url=request.query_params.get("next", ""))

    async def login_submit(self, request: Request) -> Response:
        """POST /login: throttle, check the password, start a fresh session, redirect."""
        form = await read_form(request)
        username = form_text(form, "username")
        password = form_text(form, "password")
        next_url = form_text(form, "next")
        address = client_address(request)
        try:
            user = await authenticate(
                self.users, username, password, throttle=self.throttle, address=address
            )
        except LoginThrottled as exc:
            what = THROTTLED.get(exc.reason, "Too many failed attempts for this username")
            return await self._login_form(
                request,
                next_url=next_url,
                throttled=True,
                error=f"{what}. Try again in {minutes(exc.retry_after)}.",
                entered=username,
                status=429,
                headers={"retry-after": str(exc.retry_after)},
            )
        if user is None:
            return await self._login_form(
                request,
                next_url=next_url,
                error="Wrong username or password. Both are case-sensitive.",
                entered=username,
            )
        before = remember_before_login(request, self.csrf_cookie)
        await login(request, user)
        if form_text(form, "remember") == "1":
            await remember(request, user)
        request.session[USERNAME_KEY] = user.username
        request.session[BEFORE_LOGIN_KEY] = before  # for the inspector's "before -> after"
        return RedirectResponse(safe_next(next_url, "/records"), status_code=303)

    async def logout(self, request: Request) -> Response:
        """POST /logout: end the session everywhere (server-side) and clear the cookie."""
        await logout(request)
        return RedirectResponse("/login", status_code=303)

    async def _username(self, request: Request) -> str | None:
        # A session restored from "remember me" starts without the display name.
        name = request.session.get(USERNAME_KEY)
        if name is None:
            user = await get_user(request, self.users)
            if user is not None:
                name = request.session[USERNAME_KEY] = user.username
        return name if isinstance(name, str) else None

    # -- re-authentication ("sudo") and password -----------------------------------------

    async def _reauth_form(
        self,
        request: Request,
        next_url: str,
        *,
        error: str | None = None,
        throttled: bool = False,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        context = {
            "username": await self._username(request),
            "next": next_url if is_safe_redirect(next_url) else "",
            "error": error,
            "throttled": throttled,
        }
        return await self._page(request, "reauth.html", context, status, headers)

    async def reauth_page(self, request: Request) -> Response:
        """GET /reauth: ask the logged-in user for their password again."""
        return await self._reauth_form(request, request.query_params.get("next", ""))

    async def reauth_submit(self, request: Request) -> Response:
        """POST /reauth: a right password makes the login recent; a wrong one is throttled."""
        form = await read_form(request)
        next_url = form_text(form, "next")
        try:
            ok = await reauthenticate(
                request,
                self.users,
                form_text(form, "password"),
                throttle=self.throttle,
                address=client_address(request),
            )
        except LoginThrottled as exc:
            return await self._reauth_form(
                request,
                next_url,
                throttled=True,
                error=f"Too many failed attempts. Try again in {minutes(exc.retry_after)}.",
                status=429,
                headers={"retry-after": str(exc.retry_after)},
            )
        if not ok:
            return await self._reauth_form(request, next_url, error="Wrong password.", status=401)
        return RedirectResponse(safe_next(next_url, "/sessions"), status_code=303)

    async def password_page(self, request: Request) -> Response:
        """GET /password: the change-password form (needs a recent login)."""
        changed = request.query_params.get("changed") == "1"
        context = {
            "username": await self._username(request),
            "message": "Password changed; your other sessions were signed out."
            if changed
            else None,
            "error": None,
        }
        return await self._page(request, "password.html", context)

    async def password_submit(self, request: Request) -> Response:
        """POST /password: set a new password, ending every other session and remember-me."""
        new_password = form_text(await read_form(request), "new_password")
        user = await get_user(request, self.users)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        if not isinstance(self.users, ManagedUserStore) or not new_password:
            context = {
                "username": user.username,
                "message": None,
                "error": "Enter a new password.",
            }
            return await self._page(request, "password.html", context, 400)
        try:
            await change_password(request, self.users, user, new_password)
        except ValueError as exc:
            context = {"username": user.username, "message": None, "error": str(exc)}
            return await self._page(request, "password.html", context, 400)
        return RedirectResponse("/password?changed=1", status_code=303)

    # -- records -----------------------------------------------------------------------

    async def _records_page(
        self,
        request: Request,
        user_id: str,
        *,
        error: str | None = None,
        text: str = "",
        fragment: bool = False,
    ) -> Response:
        records = [
            {"id": r.id, "text": r.text, "when": when(r.created_at), "iso": iso(r.created_at)}
            for r in await self.db.records(user_id)
        ]
        context = {
            "username": await self._username(request),
            "records": records,
            "error": error,
            "text": text,
        }
        status = 400 if error else 200
        if fragment:  # just the section HTMX swaps: no layout, no inspector
            return self.templates.TemplateResponse(
                request, "records_section.html", context, status_code=status, headers=HX_VARY
            )
        return await self._page(request, "records.html", context, status)

    async def records(self, request: Request) -> Response:
        """GET /records: the user's records and the add form."""
        user_id = current_user_id(request)
        return await self._records_page(request, user_id)

    async def add_record(self, request: Request) -> Response:
        """POST /records: add one record (the CSRF middleware already checked the token)."""
        user_id = current_user_id(request)
        text = form_text(await read_form(request), "text")
        problem = validate_record_text(text)
        fragment = wants_fragment(request)
        if problem is not None:
            return await self._records_page(
                request,
                user_id,
                error=f"Not added: {problem}.",
                text=text[:10_000],
                fragment=fragment,
            )
        await self.db.add_record(user_id, text)
        if fragment:
            return await self._records_page(request, user_id, fragment=True)
        return RedirectResponse("/records", status_code=303)

    async def delete_record(self, request: Request) -> Response:
        """POST /records/{id}/delete: delete one of the user's records; 404 for any other id.

        CSRF-protected like every POST. Another user's record id is answered exactly like an
        id that never existed, so ids reveal nothing about other users.
        """
        user_id = current_user_id(request)
        record_id: int = request.path_params["record_id"]
        if not await self.db.delete_record(user_id, record_id):
            raise HTTPException(404, "No such record.")
        if wants_fragment(request):
            return await self._records_page(request, user_id, fragment=True)
        return RedirectResponse("/records", status_code=303)

    # -- my sessions ---------------------------------------------------------------------

    async def sessions(self, request: Request) -> Response:
        """GET /sessions: where this account is signed in."""
        rows = [
            {
                "ref": entry.handle,
                "current": entry.current,
                "device": device_label(entry.user_agent),
                "address": entry.client_address or "",
                "user_agent": entry.user_agent or "",
                "created": when(entry.created_at),
                "last_seen": when(entry.last_seen),
            }
            for entry in await list_sessions(request)
        ]
        ended = request.query_params.get("ended", "")
        message = f"Signed out {ended} other session(s)." if ended.isdigit() else None
        return await self._page(
            request,
            "sessions.html",
            {
                "username": await self._username(request),
                "sessions": rows,
                "message": message,
            },
        )

    async def revoke(self, request: Request) -> Response:
        """POST /sessions/revoke: end one of this user's sessions (only theirs can match)."""
        handle = form_text(await read_form(request), "session")
        if await revoke_session(request, handle):
            if get_user_id(request) is None:  # that was this very session: logged out
                return RedirectResponse("/login", status_code=303)
            return RedirectResponse("/sessions?ended=1", status_code=303)
        return RedirectResponse("/sessions", status_code=303)

    async def revoke_others(self, request: Request) -> Response:
        """POST /sessions/revoke-others: log out everywhere else."""
        ended = await revoke_other_sessions(request)
        return RedirectResponse(f"/sessions?ended={ended}", status_code=303)
