"""cookieguard's tokens verified by Django's own CSRF code, and Django's by cookieguard."""

from __future__ import annotations

import django
import pytest
from django.conf import settings

from cookieguard.core import csrf
from cookieguard.core.tokens import (
    CSRF_ALPHABET,
    mask_secret,
    new_csrf_secret,
    token_matches_secret,
)

if not settings.configured:
    settings.configure(
        SECRET_KEY="cookieguard-interop-test-key-not-secret",
        ALLOWED_HOSTS=["testserver", "example.com"],
        DEBUG=False,
        MIDDLEWARE=[],
        ROOT_URLCONF=__name__,
        USE_TZ=True,
    )
    django.setup()

from django.http import HttpRequest, HttpResponse
from django.middleware import csrf as dj
from django.test import RequestFactory

urlpatterns: list[object] = []


def _view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def django_accepts(
    secret: str, *, form_token: str | None = None, header: str | None = None
) -> bool:
    """Run Django's CsrfViewMiddleware on a POST carrying `secret` in the cookie."""
    factory = RequestFactory()
    data = {"csrfmiddlewaretoken": form_token} if form_token is not None else {}
    extra = {"HTTP_X_CSRFTOKEN": header} if header is not None else {}
    request = factory.post("/submit", data, **extra)
    request.COOKIES[settings.CSRF_COOKIE_NAME] = secret
    middleware = dj.CsrfViewMiddleware(_view)
    middleware.process_request(request)
    return middleware.process_view(request, _view, (), {}) is None


def test_django_verifies_cookieguard_tokens() -> None:
    secret = new_csrf_secret()
    token = mask_secret(secret)
    assert dj._unmask_cipher_token(token) == secret
    assert django_accepts(secret, form_token=token)
    assert django_accepts(secret, header=mask_secret(secret))
    assert django_accepts(secret, form_token=secret)  # bare secret, both accept it
    assert not django_accepts(secret, form_token=mask_secret(new_csrf_secret()))


def test_cookieguard_verifies_django_tokens() -> None:
    request = RequestFactory().get("/form")
    middleware = dj.CsrfViewMiddleware(_view)
    middleware.process_request(request)
    token = dj.get_token(request)
    django_secret = request.META["CSRF_COOKIE"]
    assert token_matches_secret(token, django_secret)
    assert token_matches_secret(dj._mask_cipher_secret(django_secret), django_secret)
    policy = csrf.CSRFPolicy()
    assert (
        csrf.decide(
            policy,
            method="POST",
            path="/submit",
            scheme="http",
            host="testserver",
            origin="http://testserver",
            secret=csrf.StoredSecret(django_secret),
            header_token=token,
        )
        == csrf.ACCEPT
    )
    assert not token_matches_secret(token, new_csrf_secret())


def test_secret_alphabet_and_shape_match_django() -> None:
    assert CSRF_ALPHABET == dj.CSRF_ALLOWED_CHARS
    django_secret = dj._get_new_csrf_string()
    ours = new_csrf_secret()
    assert len(ours) == len(django_secret) == dj.CSRF_SECRET_LENGTH
    assert set(ours) <= set(dj.CSRF_ALLOWED_CHARS)
    dj._check_token_format(ours)
    dj._check_token_format(mask_secret(ours))


@pytest.mark.parametrize(
    ("name", "ours"),
    [
        ("REASON_BAD_ORIGIN", csrf.REASON_BAD_ORIGIN),
        ("REASON_NO_REFERER", csrf.REASON_NO_REFERER),
        ("REASON_BAD_REFERER", csrf.REASON_BAD_REFERER),
        ("REASON_NO_CSRF_COOKIE", csrf.REASON_NO_CSRF_COOKIE),
        ("REASON_CSRF_TOKEN_MISSING", csrf.REASON_CSRF_TOKEN_MISSING),
        ("REASON_MALFORMED_REFERER", csrf.REASON_MALFORMED_REFERER),
        ("REASON_INSECURE_REFERER", csrf.REASON_INSECURE_REFERER),
    ],
)
def test_reason_texts_are_djangos(name: str, ours: str) -> None:
    assert getattr(dj, name) == ours


def test_header_token_reason_matches_django_wording() -> None:
    request = RequestFactory().post("/submit", HTTP_X_CSRFTOKEN="short")
    secret = new_csrf_secret()
    request.COOKIES[settings.CSRF_COOKIE_NAME] = secret
    middleware = dj.CsrfViewMiddleware(_view)
    middleware.process_request(request)
    response = middleware.process_view(request, _view, (), {})
    assert response is not None and response.status_code == 403
    ours = csrf.decide(
        csrf.CSRFPolicy(),
        method="POST",
        path="/submit",
        scheme="http",
        host="testserver",
        secret=csrf.StoredSecret(secret),
        header_token="short",
    )
    assert isinstance(ours, csrf.Reject)
    assert ours.reason == dj.CsrfViewMiddleware(_view)._bad_token_message(
        dj.REASON_INCORRECT_LENGTH, settings.CSRF_HEADER_NAME
    )
