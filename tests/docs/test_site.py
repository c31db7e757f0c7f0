"""The documentation site: it builds strictly, its code blocks are files in examples/, and
every shell command it gives is run here as a reader would run it.

The only fenced blocks a page may hold:
- a block whose every line is ``--8<-- "examples/NAME"`` (the file is the code; examples/
  files are run by tests/examples/);
- a ``mermaid`` diagram (no code);
- a ``sh`` block, whose lines are run by `test_every_shell_block_runs` in a fresh directory,
  except plain ``pip install ...`` lines, which are only checked to be that.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.examples.conftest import set_cookie, token_in

from .pages import (
    EXAMPLES,
    INCLUDE,
    ROOT,
    Fence,
    fences,
    includes,
    is_install,
    is_server,
    run_script,
    serve,
    shell_blocks,
)

FENCES = fences()
SHELL = shell_blocks()


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    site = tmp_path / "site"
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    # The includes, the diagram and the API reference are really in the pages.
    story = (site / "how-it-works/index.html").read_text()
    assert '<pre class="mermaid"><code>sequenceDiagram' in story
    assert "how_it_works.db" in story and "--8&lt;--" not in story
    reference = (site / "reference/config/index.html").read_text()
    assert 'id="cookieguard.config.CSRFConfig"' in reference
    assert "trusted_origins" in reference
    assert "<table>" in (site / "benchmarks/index.html").read_text()


def test_the_pages_have_fenced_blocks() -> None:
    assert len([f for f in FENCES if f.lang != "sh"]) >= 10 and len(SHELL) >= 5


@pytest.mark.parametrize("fence", FENCES, ids=[f.where for f in FENCES])
def test_every_fenced_block_is_an_example_a_diagram_or_a_tested_command(fence: Fence) -> None:
    if fence.lang == "mermaid":
        return
    if fence.lang == "sh":
        assert fence.lines, f"{fence.where}: empty"
        return  # run by test_every_shell_block_runs
    assert fence.lines, f"{fence.where}: empty block"
    for line in fence.lines:
        match = INCLUDE.fullmatch(line.strip())
        assert match, f"{fence.where}: inline code; put it in examples/ and include it"
        path = match["path"]
        assert path.startswith("examples/") and (ROOT / path).is_file(), fence.where


def test_every_new_example_is_shown_in_the_docs_or_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    shown = includes() | set(re.findall(r"<!-- example: (examples/\S+) -->", readme))
    assert shown >= {f"examples/{p.name}" for p in EXAMPLES.glob("*.py")}


def test_install_lines_are_only_pip_installs() -> None:
    for block in SHELL:
        for line in block.lines:
            if "install" in line:
                assert is_install(line), f"{block.where}: {line!r}"


def _check_story(output: str, url: str | None) -> None:
    assert output.splitlines()[-1] == "6. logged out: row deleted, sessionid cleared"


def _check_production_behind_proxy(output: str, url: str | None) -> None:
    assert url is not None
    with httpx.Client(base_url=url) as http:
        plain = http.get("/")
        line = set_cookie(plain, "csrftoken")
        assert line is not None and "Secure" not in line
        assert plain.headers["x-frame-options"] == "DENY"
    # 127.0.0.1 is the trusted proxy: its X-Forwarded-Proto makes the request https.
    with httpx.Client(base_url=url, headers={"X-Forwarded-Proto": "https"}) as http:
        page = http.get("/")
        line = set_cookie(page, "csrftoken")
        assert line is not None and "; Secure" in line
        # The client talks plain http to the server, so it would not send a Secure cookie back.
        cookie = {"Cookie": line.split(";", 1)[0]}
        form = {"csrfmiddlewaretoken": token_in(page.text)}
        https_origin = {**cookie, "Origin": "https://" + url.removeprefix("http://")}
        assert http.post("/notes", data=form, headers=https_origin).status_code == 200
        http_origin = {**cookie, "Origin": url}  # not this https site's origin
        assert http.post("/notes", data=form, headers=http_origin).status_code == 403


def _check_purge(output: str, url: str | None) -> None:
    script, command = output.splitlines()  # an empty store: both find nothing to delete
    assert script == "purged 0 expired sessions"
    assert command.startswith("purged 0 expired session")


CHECKS: dict[str, Callable[[str, str | None], None]] = {
    "python examples/how_it_works.py": _check_story,
    "production:app --proxy-headers": _check_production_behind_proxy,
    "cookieguard sessions purge": _check_purge,
}


@pytest.mark.parametrize("block", SHELL, ids=[b.where for b in SHELL])
def test_every_shell_block_runs(block: Fence, tmp_path: Path) -> None:
    commands = [line for line in block.lines if not is_install(line)]
    if not commands:
        return  # install lines only
    checks = [check for marker, check in CHECKS.items() if marker in block.body]
    if is_server(commands[-1]):
        with serve(block, tmp_path) as url:
            assert httpx.get(url).status_code < 500
            for check in checks:
                check("", url)
    else:
        output = run_script(block, tmp_path)
        for check in checks:
            check(output, None)


def test_every_check_has_its_block() -> None:
    for marker in CHECKS:
        assert any(marker in block.body for block in SHELL), marker
