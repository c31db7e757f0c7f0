"""The conformance apps: one module per framework, each exposing KIND, HAS_WEBSOCKET, make_app."""
