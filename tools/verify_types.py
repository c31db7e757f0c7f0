"""`pyright --verifytypes cookieguard`: every public symbol's type is known, or this fails.

Prints pyright's completeness score. PENDING names the symbols still allowed to be
ambiguous (each with why); anything else pyright reports fails the run, so the score can
only go up. Public functions and methods without a docstring fail it too (pyright reports
them as warnings; dunder methods and overrides of a documented method are not counted),
except in the modules DOCSTRINGS_PENDING names. Run by `make typecheck` with the venv active
(pyright resolves imports there).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Symbols still allowed an unknown type (each with why). Empty: every public type is known.
PENDING: set[str] = set()

# Source paths (relative to src/cookieguard/) whose public methods may still lack a docstring:
# Empty: every public function and method has one.
DOCSTRINGS_PENDING: tuple[str, ...] = ()


def main() -> int:
    venv = Path(sys.executable).parent.parent
    env = dict(os.environ, VIRTUAL_ENV=str(venv))
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    cmd = [str(venv / "bin" / "pyright"), "--verifytypes", "cookieguard", "--ignoreexternal"]
    run = subprocess.run([*cmd, "--outputjson"], capture_output=True, text=True, env=env)
    try:
        report = json.loads(run.stdout)["typeCompleteness"]
    except (ValueError, KeyError):
        sys.stderr.write(run.stdout + run.stderr)
        return 2
    score = report["completenessScore"]
    print(f"pyright --verifytypes cookieguard: {score:.1%} of public symbols have known types")
    problems = [
        f"{symbol['name']}: {diagnostic['message']}"
        for symbol in report["symbols"]
        if symbol["name"] not in PENDING
        for diagnostic in symbol["diagnostics"]
        if diagnostic["severity"] == "error"
    ]
    package = Path(report["packageRootDirectory"])
    problems += [
        f"{symbol['name']}: {diagnostic['message']}"
        for symbol in report["symbols"]
        for diagnostic in symbol["diagnostics"]
        if "docstring" in diagnostic["message"]
        and not _docstring_pending(Path(diagnostic.get("file", "")), package)
    ]
    for line in problems:
        print(line)
    return 1 if problems else 0


def _docstring_pending(file: Path, package: Path) -> bool:
    """The diagnostic is in a module DOCSTRINGS_PENDING still exempts."""
    try:
        relative = file.relative_to(package).as_posix()
    except ValueError:
        return False
    return relative.startswith(DOCSTRINGS_PENDING)


if __name__ == "__main__":
    raise SystemExit(main())
