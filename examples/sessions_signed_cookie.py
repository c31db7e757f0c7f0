from fastapi import FastAPI

from cookieguard.asgi.session import SessionMiddleware
from cookieguard.backends import SignedCookieBackend
from cookieguard.core.signing import KeyRing

api = FastAPI()  # your app, with routes as in sessions_fastapi.py

backend = SignedCookieBackend(KeyRing("new-secret-key-...", fallbacks=["old-secret-key-..."]))
app = SessionMiddleware(api, backend)
