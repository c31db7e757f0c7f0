"""The README's code is the code in examples/: byte for byte, so the two cannot drift.

Each ```python block in README.md is preceded by a marker naming its source:
``<!-- example: examples/NAME.py -->`` (the block is that whole file) or
``<!-- excerpt: PATH -->`` (the block is a run of consecutive lines of PATH, dedented).
Each file of examples/ is shown at most once (the others are on the documentation site), and
the shell commands the README gives for them name files and apps that exist.
"""

from __future__ import annotations

import ast
import re
import shlex
import textwrap
from dataclasses import dataclass

import pytest

from .conftest import EXAMPLES, README, ROOT

MARKER = re.compile(r"<!-- (example|excerpt): (\S+) -->")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)


@dataclass(frozen=True)
class Block:
    line: int
    marker: str | None
    code: str


def python_blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    blocks = []
    for fence in FENCE.finditer(text):
        if fence[1] != "python":
            continue
        before = text[: fence.start()].rstrip("\n").rsplit("\n", 1)[-1]
        blocks.append(Block(text.count("\n", 0, fence.start()) + 1, before, fence[2]))
    return blocks


def shell_lines() -> list[str]:
    text = README.read_text(encoding="utf-8")
    return [
        line for fence in FENCE.finditer(text) if fence[1] == "sh" for line in fence[2].splitlines()
    ]


BLOCKS = python_blocks()


def test_the_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize("block", BLOCKS, ids=[f"README.md:{b.line}" for b in BLOCKS])
def test_every_python_block_is_a_file_or_an_excerpt_of_one(block: Block) -> None:
    marker = MARKER.fullmatch(block.marker or "")
    assert marker, f"README.md:{block.line}: no <!-- example: ... --> marker before the block"
    kind, path = marker[1], ROOT / marker[2]
    source = path.read_text(encoding="utf-8")
    if kind == "example":
        assert path.parent == EXAMPLES, f"{path} is not in examples/"
        assert block.code == source, f"README.md:{block.line} differs from {marker[2]}"
        return
    wanted = block.code.splitlines()
    lines = source.splitlines()
    runs = (
        textwrap.dedent("\n".join(lines[i : i + len(wanted)])).splitlines()
        for i in range(len(lines) - len(wanted) + 1)
    )
    assert wanted in runs, f"README.md:{block.line} is not an excerpt of {marker[2]}"


def test_every_example_file_is_shown_at_most_once() -> None:
    # Files the README does not show are on the documentation site (tests/docs checks that
    # every file is shown in one or the other).
    shown = [MARKER.fullmatch(b.marker or "") for b in BLOCKS]
    files = sorted(m[2] for m in shown if m and m[1] == "example")
    assert len(files) == len(set(files))
    assert set(files) <= {f"examples/{p.name}" for p in EXAMPLES.glob("*.py")}


def _module_names(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def test_the_readme_commands_name_real_examples() -> None:
    inline = re.findall(
        r"`((?:python|uvicorn|flask|gunicorn) [^`]*examples[^`]*)`", README.read_text()
    )
    commands = [line for line in shell_lines() if "examples" in line] + inline
    assert len(commands) >= 6
    for command in commands:
        argv = shlex.split(command.partition("#")[0])
        if argv[0] == "python":
            assert (ROOT / argv[1]).is_file(), command
            assert argv[1].startswith("examples/"), command
        elif argv[0] == "flask":
            assert argv[1] == "--app" and argv[2].startswith("examples/"), command
            assert (ROOT / argv[2]).is_file(), command
        elif argv[0] == "gunicorn":
            assert argv[1:3] == ["--chdir", "examples"], command
            module, _, attr = argv[-1].partition(":")
            assert attr in _module_names(f"examples/{module}.py"), command
        else:
            assert argv[:3] == ["uvicorn", "--app-dir", "examples"], command
            module, _, attr = argv[3].partition(":")
            assert attr in _module_names(f"examples/{module}.py"), command
