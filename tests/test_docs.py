"""The project's documents stand alone: every link resolves inside the repository."""

import re
import tomllib
from pathlib import Path

import pytest

from ledger.rulesets import example_ruleset_text, parse_ruleset

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _links(document: Path) -> list[str]:
    return LINK.findall(document.read_text(encoding="utf-8"))


def _problems(document: Path, root: Path) -> list[str]:
    """The links of a document that leave ``root`` or name no file."""
    problems = []
    for link in _links(document):
        target = (document.parent / link.split("#", 1)[0]).resolve()
        if "://" in link or link.startswith("/") or not target.is_relative_to(root):
            problems.append(f"{link} leaves the repository")
        elif not target.exists():
            problems.append(f"{link} does not exist")
    return problems


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_of_a_document_resolves_inside_the_repository(document: Path) -> None:
    assert _problems(document, ROOT) == []


def test_the_link_check_finds_links_that_leave_the_repository_or_name_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "rules.md").write_text("# rules\n", encoding="utf-8")
    document = tmp_path / "README.md"
    document.write_text("[a](../shared/RULES.md) [b](https://example.org) [c](docs/rules.md)"
                        " [d](docs/gone.md) [e](docs/rules.md#time)\n", encoding="utf-8")
    assert _problems(document, tmp_path) == [
        "../shared/RULES.md leaves the repository", "https://example.org leaves the repository",
        "docs/gone.md does not exist"]


def test_the_rules_and_the_contract_are_linked_from_the_readme() -> None:
    links = _links(ROOT / "README.md")
    assert "docs/rules.md" in links and "docs/contract.md" in links


def test_the_contract_shows_the_example_ruleset_exactly_as_shipped() -> None:
    contract = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    shown = contract.split("```toml\n", 1)[1].split("```", 1)[0]
    assert shown == example_ruleset_text()
    assert parse_ruleset(shown).id == tomllib.loads(shown)["id"]


MARKER = re.compile(r"^(<{7}|>{7}) ", re.M)
TRACKED_SUFFIXES = {".py", ".md", ".toml", ".html", ".css", ".yaml", ".jsonl", ".txt"}


def _project_files() -> list[Path]:
    skipped = {".git", ".venv", "node_modules", "__pycache__"}
    return [path for path in ROOT.rglob("*") if path.suffix in TRACKED_SUFFIXES
            and path.is_file() and not skipped & set(path.relative_to(ROOT).parts)]


def test_no_file_holds_a_merge_conflicts_markers():
    marked = [str(path.relative_to(ROOT)) for path in _project_files()
              if MARKER.search(path.read_text(encoding="utf-8", errors="replace"))]
    assert marked == []


def test_the_marker_check_finds_a_left_over_conflict():
    assert MARKER.search("text\n<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> branch\n")
    assert not MARKER.search("a <<<<<<< in a sentence is not a marker\n")
