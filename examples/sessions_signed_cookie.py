from fastapi import FastAPI

from cookieguard.asgi.session import SessionMiddleware
from cookieguard.core.signing import KeyRing
from cookieguard.stores.cookie import CookieStore

api = FastAPI()  # your app, with routes as in sessions_fastapi.py

store = CookieStore(KeyRing("new-secret-key-...", fallbacks=["old-secret-key-..."]))
app = SessionMiddleware(api, store)
