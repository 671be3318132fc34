"""Standing rules of the codebase, checked on every test run.

Services never import one another, libs import no service, domain code does no I/O
(import-linter contracts in pyproject.toml); the code is ruff-clean.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def test_import_contracts_hold() -> None:
    result = run(str(BIN / "lint-imports"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_code_is_ruff_clean() -> None:
    lint = run(str(BIN / "ruff"), "check", ".")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    formatted = run(str(BIN / "ruff"), "format", "--check", ".")
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


# A citation: `docs/domain.md §3` or `docs/domain.md §3, Anonymity` (a rule named by its
# heading). Lower-case words after the comma are prose, not a heading, and are not checked.
CITATION = re.compile(r"docs/(domain|architecture)\.md §(\d+)(?:, ([A-Z][A-Za-z0-9 -]*))?")
CITED_DOCS = ("domain", "architecture")
TEXT_SUFFIXES = (".py", ".md", ".toml", ".yaml", ".yml", ".json", ".conf", ".sql", ".mako")


def tracked_text_files() -> list[Path]:
    listed = run("git", "ls-files")
    if listed.returncode == 0 and listed.stdout:
        names = listed.stdout.splitlines()
    else:  # not a git checkout (an unpacked archive): every file but the environment's
        names = [
            str(path.relative_to(ROOT))
            for path in ROOT.rglob("*")
            if path.is_file() and not {".venv", ".git", ".talentledger"} & set(path.parts)
        ]
    return [ROOT / name for name in names if name.endswith(TEXT_SUFFIXES)]


def headings(doc: str) -> dict[str, list[str]]:
    """Section number -> the `###` headings under it, lower-cased."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in (ROOT / "docs" / f"{doc}.md").read_text().splitlines():
        if section := re.match(r"## (\d+)\. ", line):
            current = sections.setdefault(section[1], [])
        elif line.startswith("### ") and current is not None:
            current.append(line[4:].strip().lower())
    return sections


def test_citations_point_into_the_projects_own_docs() -> None:
    """Code and tests cite docs/domain.md and docs/architecture.md, never a file outside the
    repository, and every cited section (and named rule) exists."""
    outside = re.compile(r"(?<!docs/)\b(DOMAIN|ARCHITECTURE)\.md")
    known = {doc: headings(doc) for doc in CITED_DOCS}
    problems = []
    for path in tracked_text_files():
        relative = path.relative_to(ROOT)
        if relative.parts[0] == "docs":
            continue
        text = path.read_text(errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if outside.search(line):
                problems.append(f"{relative}:{number}: cites a file outside the repository")
        for citation in CITATION.finditer(re.sub(r"\s*\n\s*(#\s*)?", " ", text)):
            doc, section, rule = citation.groups()
            if section not in known[doc]:
                problems.append(f"{relative}: {citation[0]!r}: no section {section}")
            elif rule and not any(
                rule.strip().lower().startswith(heading) or heading.startswith(rule.lower())
                for heading in known[doc][section]
            ):
                problems.append(f"{relative}: {citation[0]!r}: no such rule in §{section}")
    assert not problems, "\n".join(problems)


def test_subjects_are_named_only_by_the_one_rule() -> None:
    """No code but libs/events/subjects.py writes a subject of its own
    (docs/architecture.md §3, Subjects)."""
    built = re.compile(r"""f["'](talentledger|deadletter)\.""")
    problems = [
        f"{path.relative_to(ROOT)}:{number}: builds a subject; use libs/events/subjects.py"
        for path in tracked_text_files()
        if path.suffix == ".py"
        and path.relative_to(ROOT).parts[0] in ("libs", "services", "talentledger", "bench")
        and path != ROOT / "libs" / "events" / "subjects.py"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if built.search(line)
    ]
    assert not problems, "\n".join(problems)


def test_tests_share_code_only_through_tests_support() -> None:
    """A test module imports no other test module: what several tests share lives in
    tests/support/, where changing it is visibly changing every test that uses it."""
    imports = re.compile(r"^\s*(?:from|import)\s+(tests(?:\.\w+)*)", re.MULTILINE)
    problems = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in tracked_text_files()
        if path.suffix == ".py" and path.relative_to(ROOT).parts[0] == "tests"
        for module in imports.findall(path.read_text())
        if module != "tests.support" and not module.startswith("tests.support.")
    ]
    assert not problems, "\n".join(problems)
