"""The contract's routes as plain Django function views."""

import json

from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from records.models import Record

MAX_TEXT = 10_000


def _rows(user) -> list[tuple[int, str]]:
    return list(Record.objects.filter(user=user).order_by("id").values_list("id", "text"))


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or "/records"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts=None):
        next_url = "/records"
    if request.method == "POST":
        user = authenticate(
            request,
            username=request.POST.get("username", ""),
            password=request.POST.get("password", ""),
        )
        if user is not None:
            login(request, user)
            return redirect(next_url)
        error = "Wrong username or password."
        return render(request, "login.html", {"next": next_url, "error": error})
    return render(request, "login.html", {"next": next_url})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("/login")


@require_http_methods(["GET", "POST"])
def records_view(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("/login?next=/records")
    if request.method == "POST":
        text = request.POST.get("text", "")
        if not text or len(text) > MAX_TEXT:
            context = {
                "records": _rows(request.user),
                "error": "Text must be 1 to 10,000 characters.",
            }
            return render(request, "records.html", context, status=400)
        Record.objects.create(user=request.user, text=text)
        return redirect("/records")
    return render(request, "records.html", {"records": _rows(request.user)})


@require_http_methods(["GET", "POST"])
def api_records(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return JsonResponse({"error": "not logged in"}, status=401)
    if request.method == "GET":
        rows = [{"id": i, "text": t} for i, t in _rows(request.user)]
        return JsonResponse(rows, safe=False)
    try:
        body = json.loads(request.body)
    except ValueError:
        return JsonResponse({"error": "body is not JSON"}, status=400)
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text or len(text) > MAX_TEXT:
        return JsonResponse({"error": "text must be a non-empty string"}, status=400)
    record = Record.objects.create(user=request.user, text=text)
    return JsonResponse({"id": record.id, "text": record.text}, status=201)
