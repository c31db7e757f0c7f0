"""The Django side of the interop tests: login, logout, whoami, a CSRF form, a password change."""

from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.urls import path
from django.views.decorators.http import require_POST


def whoami(request: HttpRequest) -> HttpResponse:
    user = request.user
    return JsonResponse({"user": user.username if user.is_authenticated else None})


def _form(request: HttpRequest, fields: str) -> HttpResponse:
    token = get_token(request)
    return HttpResponse(
        f'<form method="post"><input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
        f"{fields}</form>"
    )


def login_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _form(request, '<input name="username"><input name="password">')
    user = authenticate(
        request, username=request.POST.get("username"), password=request.POST.get("password")
    )
    if user is None:
        return HttpResponse("Wrong username or password", status=401)
    login(request, user)
    return HttpResponse("Logged in")


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return HttpResponse("Logged out")


@require_POST
def password_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not user.is_authenticated:
        return HttpResponse("Log in first", status=403)
    user.set_password(request.POST["new_password"])
    user.save()
    update_session_auth_hash(request, user)  # this session stays; the others end
    return HttpResponse("Password changed")


def form_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _form(request, '<input name="text">')
    request.session["last_text"] = request.POST.get("text", "")
    return HttpResponse("Accepted")


@require_POST
def short_view(request: HttpRequest) -> HttpResponse:
    request.session["short"] = True
    request.session.set_expiry(1)
    return HttpResponse("A one-second session")


urlpatterns = [
    path("whoami", whoami),
    path("login", login_view),
    path("logout", logout_view),
    path("password", password_view),
    path("form", form_view),
    path("short", short_view),
]
