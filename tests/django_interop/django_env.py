"""The newest Django, in its own virtualenv: Django 6 needs Python 3.12+, the project 3.11.

``python -m tests.django_interop.django_env`` (what ``make test`` runs first) creates
``.venv-django/`` in the repository (ignored by git) with a Python 3.12 or newer found through
``COOKIEGUARD_PYTHON312``, ``$PYENV_ROOT/versions``, ``pyenv which`` or ``PATH``, and installs
``django>=6`` with psycopg, argon2-cffi and bcrypt into it. Later runs reuse it (a stamp file
records what was installed). Without such a Python the tests that need it are skipped, or
fail when ``CI=true``; ``make`` only says so.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-django"
PYTHON = VENV / "bin" / "python"
REQUIREMENTS = ("django>=6", "psycopg[binary]>=3.2", "argon2-cffi>=23.1", "bcrypt>=4")
STAMP = VENV / ".stamp"


def _good(candidate: str) -> bool:
    try:
        done = subprocess.run(
            [candidate, "-c", "import sys, venv; sys.exit(sys.version_info < (3, 12))"],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def find_python() -> str | None:
    """A Python 3.12+ interpreter that can make a venv, or None."""
    candidates: list[str] = []
    if os.environ.get("COOKIEGUARD_PYTHON312"):
        candidates.append(os.environ["COOKIEGUARD_PYTHON312"])
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    for minor in ("3.12", "3.13", "3.14"):
        candidates += sorted(glob.glob(f"{root}/versions/{minor}*/bin/python{minor}"))
    pyenv = shutil.which("pyenv")
    for minor in ("3.12", "3.13"):
        if pyenv:
            found = subprocess.run(
                [pyenv, "which", f"python{minor}"], capture_output=True, text=True, timeout=30
            )
            if found.returncode == 0 and found.stdout.strip():
                candidates.append(found.stdout.strip())
        on_path = shutil.which(f"python{minor}")
        if on_path:
            candidates.append(on_path)
    return next((c for c in candidates if _good(c)), None)


def django_python() -> Path | None:
    """The venv's interpreter, creating or refreshing the venv first; None if impossible."""
    wanted = "\n".join(REQUIREMENTS)
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return PYTHON
    base = find_python()
    if base is None:
        return None
    if not PYTHON.exists():
        subprocess.run([base, "-m", "venv", str(VENV)], check=True, timeout=300)
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", *REQUIREMENTS],
        check=True,
        timeout=600,
    )
    STAMP.write_text(wanted)
    return PYTHON


def main() -> int:
    python = django_python()
    if python is None:
        print("django_env: no Python 3.12+ found; the real-Django tests will be skipped")
        return 1 if os.environ.get("CI") == "true" else 0
    version = subprocess.run(
        [str(python), "-c", "import django; print(django.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"django_env: Django {version} in {VENV}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
