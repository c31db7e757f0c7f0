"""The built package works once installed: `pip install cookieguard-*.whl` in a fresh venv.

An editable install hides packaging mistakes (a template left out of the wheel, a missing
dependency, a broken entry point) because everything is read from the source tree. This test
builds the sdist and, from it, the wheel (``python -m build``, as ``make dist`` does), installs
the wheel with its ``demo`` extra into a new virtual environment, and uses it from a directory
outside the checkout. Select it alone with ``pytest -m packaging``.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import venv
from pathlib import Path

import httpx
import pytest

from cookieguard import __version__
from tests.demo.server import SERVING

ROOT = Path(__file__).resolve().parents[2]
STYLE = (ROOT / "src" / "cookieguard" / "demo" / "static" / "style.css").read_bytes()
pytestmark = [pytest.mark.packaging, pytest.mark.timeout(240)]

CHECK_INSTALLED = """
import json, sys
from importlib import metadata, resources
import cookieguard
root = resources.files("cookieguard")
needed = ["py.typed", "demo/templates/base.html", "demo/templates/login.html",
          "demo/templates/records.html", "demo/templates/sessions.html",
          "demo/static/style.css"]
requires = metadata.requires("cookieguard") or []
print(json.dumps({
    "file": cookieguard.__file__,
    "missing": [name for name in needed if not root.joinpath(name).is_file()],
    "requires": requires,
    "prefix": sys.prefix,
}))
"""


def _run(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel (and its demo extra) installed; its bin/ directory."""
    work = tmp_path_factory.mktemp("packaging")
    dist = work / "dist"
    _run(sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT), cwd=work)
    wheels = list(dist.glob("cookieguard-*.whl"))
    assert len(wheels) == 1 and list(dist.glob("cookieguard-*.tar.gz")), list(dist.iterdir())
    env_dir = work / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    # This environment's pip installs into the new one (no pip download for the venv); the
    # dependencies come from the configured index or pip's cache, as for a user.
    _run(
        sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
        f"{wheels[0]}[demo]",
        cwd=work,
    )  # fmt: skip
    return env_dir / "bin"


def test_the_wheel_holds_what_the_installed_package_needs(installed: Path, tmp_path: Path) -> None:
    report = json.loads(_run(str(installed / "python"), "-c", CHECK_INSTALLED, cwd=tmp_path).stdout)
    assert report["missing"] == []
    # Imported from the new environment, not from the checkout.
    assert Path(report["file"]).is_relative_to(report["prefix"]), report
    assert not Path(report["file"]).is_relative_to(ROOT)
    requires = report["requires"]
    for extra in ("fastapi", "starlette", "demo"):
        assert any(
            r.startswith("python-multipart") and f'extra == "{extra}"' in r for r in requires
        ), (extra, requires)
    assert any(r.startswith("fastapi") and 'extra == "fastapi"' in r for r in requires)


def test_the_entry_point_reports_the_version(installed: Path, tmp_path: Path) -> None:
    result = _run(str(installed / "cookieguard"), "--version", cwd=tmp_path)
    assert result.stdout == f"cookieguard {__version__}\n"


def test_the_installed_demo_serves_the_login_form(installed: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COOKIEGUARD_SECRET_KEY")}
    proc = subprocess.Popen(
        [str(installed / "cookieguard"), "demo", "--port", "0", "--db", "demo.sqlite3"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        url, seen, deadline = None, [], time.monotonic() + 30
        while url is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            seen.append(line)
            if match := SERVING.search(line):
                url = match[1]
        assert url is not None, "\n".join(seen)
        response = httpx.get(f"{url}/login", timeout=10)
        assert response.status_code == 200
        for field in ("csrfmiddlewaretoken", "username", "password"):
            assert re.search(rf'name="{field}"', response.text), field
        assert "csrftoken" in response.cookies
        style = httpx.get(f"{url}/static/style.css", timeout=10)
        assert style.status_code == 200 and style.content == STYLE
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert (tmp_path / "demo.sqlite3").is_file()


def test_an_example_runs_against_the_installed_package(installed: Path, tmp_path: Path) -> None:
    """examples/jinja2_csrf.py, copied out of the checkout, served by the venv's uvicorn."""
    import shutil
    import socket

    shutil.copy(ROOT / "examples" / "jinja2_csrf.py", tmp_path / "jinja2_csrf.py")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.Popen(
        [str(installed / "uvicorn"), "--port", str(port), "jinja2_csrf:app"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = httpx.get(url + "/", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.1)
        assert page.status_code == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]{64})"', page.text)
        assert token is not None and "csrftoken" in page.cookies
        cookies = {"csrftoken": page.cookies["csrftoken"]}
        sent = httpx.post(
            url + "/", data={"csrfmiddlewaretoken": token[1], "text": "hi"}, cookies=cookies
        )
        assert sent.status_code == 200 and sent.text == "Got hi"
        refused = httpx.post(url + "/", data={"text": "hi"}, cookies=cookies)
        assert refused.status_code == 403
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
