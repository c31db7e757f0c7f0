"""Pure ASGI middleware that carries out the core's decisions."""
