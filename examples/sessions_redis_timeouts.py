from fastapi import FastAPI

from cookieguard.asgi.session import SessionMiddleware
from cookieguard.config import SessionConfig
from cookieguard.stores import open_store

api = FastAPI()  # your app, with routes as in sessions_fastapi.py

config = SessionConfig(idle_timeout=30 * 60, absolute_timeout=8 * 3600)
app = SessionMiddleware(api, open_store("redis://127.0.0.1:6379/0"), config)
