"""The WSGI conformance app as gunicorn loads it in each worker (settings from the environment).

Every response names the worker process that served it (``X-Worker``), so a test can tell
that its requests really were spread over several processes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from tests.frontdoors.apps.wsgi_app import make_app

_site = make_app(
    store_url=os.environ["CG_TEST_STORE"],
    users_db=os.environ["CG_TEST_USERS"],
    secret_key=os.environ["CG_TEST_SECRET"],
)


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return start_response(status, [*headers, ("X-Worker", str(os.getpid()))], exc_info)

    return _site(environ, start)
