"""The documentation stays consistent with the README, CI and the notebooks (no MkDocs needed)."""

from __future__ import annotations

import re

from tests.paths import ROOT


def _blocks(text: str, language: str | None = None) -> list[str]:
    """Contents of the fenced code blocks of a markdown text (optionally of one language)."""
    blocks, current, lang = [], None, None
    for line in text.splitlines():
        if line.startswith("```"):
            if current is None:
                current, lang = [], line[3:].strip()
            else:
                if language is None or lang == language:
                    blocks.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    command = next(
        line.strip()
        for block in _blocks(readme, "bash")
        for line in block.splitlines()
        if "pytest" in line
    )
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command in [line.strip() for line in ci]
    # the docs build comes after the tests, as its own step
    assert any("mkdocs build --strict" in line for line in ci)
    docs_page = (ROOT / "docs" / "getting-started.md").read_text()
    assert command in docs_page


def test_quick_start_output_is_the_same_in_readme_and_docs():
    def table(path):
        return next(b for b in _blocks(path.read_text()) if "E rmse" in b).strip()

    assert table(ROOT / "README.md") == table(ROOT / "docs" / "getting-started.md")


def test_every_page_and_notebook_is_in_the_navigation():
    nav = (ROOT / "mkdocs.yml").read_text().split("\nnav:", 1)[1]
    listed = set(re.findall(r":\s*(\S+\.md)\s*$", nav, flags=re.M))
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert listed == pages, (sorted(listed - pages), sorted(pages - listed))
    for nb in (ROOT / "notebooks").glob("*.py"):
        assert f"notebooks/{nb.stem}.md" in listed, nb.name
