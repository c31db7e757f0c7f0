"""The demo site of the HTTP contract: `app.create_app` builds it, `serve.serve` runs it.

It uses cookieguard's public API only, as any application would; ``cookieguard demo`` is the
way to start it.
"""
