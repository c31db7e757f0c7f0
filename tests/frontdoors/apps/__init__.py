"""The conformance apps: one module per framework, each exposing KIND, HAS_WEBSOCKET, make_app;
WSGI ones also ``close(app)``, what the process's end would call (WSGI has no lifespan)."""
