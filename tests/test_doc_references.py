"""Docstrings, comments and docs cite the repository's own docs, never a file or numbered section it lacks.

A citation like ``SPEC.md <section sign>4``, or a bare ``SPEC.md``, sends the reader to a file the
checkout does not contain (the specification the project was written from stays outside it). Cite
``docs/X.md, "Section title"`` (a heading, or the bold lead of a paragraph) or state the fact. The section sign is spelled ``\\u00a7`` here so this
file does not cite itself.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIGN = "\u00a7"
CITATION = re.compile(rf"(?:([\w./-]+\.md)`?\s*)?{SIGN}\s*(\d+(?:\.\d+)*)")
# a document by name: docs are named in capitals (TRAINING.md); lower-case names (report.md) are outputs
DOCUMENT = re.compile(r"(?<![\w.-])((?:[\w.-]+/)*[A-Z][A-Z0-9_]*\.md)\b")
# docs/X.md, "Section title" (also [X.md](X.md), "Title" and a title on the next comment line)
TITLED = re.compile(r'([\w./-]+\.md)[`)\]]*,\s*(?:#\s*)?"([^"\n]+)"')
SCANNED = ("crossglg", "bench", "tests", "docs")


def _files() -> list[Path]:
    files = [REPO / "README.md"]
    for top in SCANNED:
        files += [p for p in (REPO / top).rglob("*") if p.suffix in (".py", ".toml", ".md", ".sh")]
    return [p for p in files if p.is_file() and p != Path(__file__).resolve()]


def _numbered(doc: Path, section: str) -> bool:
    """Whether the Markdown file has a heading numbered ``section`` (``## 4.`` or ``### 4.2``)."""
    return (
        re.search(rf"^#+\s*{re.escape(section)}[.\s]", doc.read_text(encoding="utf-8"), flags=re.M)
        is not None
    )


def _document(name: str, path: Path, root: Path) -> Path | None:
    """The repository file a mention of ``name`` in ``path`` means (itself, under docs/, or beside it)."""
    candidates = [root / name, root / "docs" / Path(name).name, path.parent / name]
    return next((c for c in candidates if c.is_file() and root.resolve() in c.resolve().parents), None)


def _titles(doc: Path) -> list[str]:
    """What a citation may name in ``doc``: its headings and the bold leads of its paragraphs."""
    text = doc.read_text(encoding="utf-8").replace("`", "")
    return re.findall(r"^#+\s*(.+?)\s*$", text, flags=re.M) + re.findall(r"^\*\*(.+?)\*\*", text, flags=re.M)


def dead_citations(path: Path, root: Path = REPO) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    dead = []
    for m in DOCUMENT.finditer(text):
        if _document(m.group(1), path, root) is None:
            line = text.count("\n", 0, m.start()) + 1
            dead.append(
                f"{path.relative_to(root)}:{line}: {m.group(1)!r} names a file the repository does not contain"
            )
    for m in CITATION.finditer(text):
        name, section = m.group(1), m.group(2)
        line = text.count("\n", 0, m.start()) + 1
        where = f"{path.relative_to(root)}:{line}: {m.group(0)!r}"
        if name is None:
            dead.append(f"{where} names no file")
            continue
        doc = _document(name, path, root)
        if doc is None:
            if not DOCUMENT.fullmatch(name):  # a capitalised name is reported above already
                dead.append(f"{where} cites a file the repository does not contain")
        elif not _numbered(doc, section):
            dead.append(f"{where}: {doc.relative_to(root)} has no section {section}")
    for m in TITLED.finditer(text):
        doc, title = _document(m.group(1), path, root), m.group(2).replace("`", "")
        if doc is not None and not any(t.startswith(title) for t in _titles(doc)):
            line = text.count("\n", 0, m.start()) + 1
            dead.append(f"{path.relative_to(root)}:{line}: {doc.relative_to(root)} has no section {title!r}")
    return dead


def test_no_docstring_comment_or_doc_cites_a_file_or_section_the_repository_lacks():
    dead = [d for path in _files() for d in dead_citations(path)]
    assert not dead, "dead references:\n" + "\n".join(dead)


def test_the_check_finds_what_it_is_for(tmp_path):
    """Each kind of dead reference is reported; a real numbered section of a repo file is not."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "CACHE.md").write_text("# Cache\n\n## The cache key\n")
    (tmp_path / "docs" / "NUMBERED.md").write_text("# t\n\n## 4. Something\n")
    probe = tmp_path / "probe.py"
    probe.write_text(
        f'"""(METHOD.md {SIGN}10) (docs/CACHE.md {SIGN}2) (rule of {SIGN}7.3) (NUMBERED.md {SIGN}4)."""\n'
    )
    found = dead_citations(probe, root=tmp_path)
    assert len(found) == 3, found
    assert "METHOD.md" in found[0] and "does not contain" in found[0]
    assert "docs/CACHE.md has no section 2" in found[1]
    assert "names no file" in found[2]


def test_a_bare_mention_of_a_missing_document_is_dead_too(tmp_path):
    """Without a section sign, a document the checkout lacks is still a dead end; outputs are not documents."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "CACHE.md").write_text("# Cache\n")
    (tmp_path / "README.md").write_text("# r\n")
    probe = tmp_path / "pkg" / "probe.py"
    probe.parent.mkdir()
    probe.write_text(
        '"""As METHOD.md says (and ../shared/spec/OFFLINE.md): see docs/CACHE.md, CACHE.md,\n'
        '[the readme](README.md) and the demo\'s report.md; nothing of SPEC_2.md."""\n'
    )
    found = dead_citations(probe, root=tmp_path)
    assert [f.split(": ", 1)[1].split(" ")[0] for f in found] == [
        "'METHOD.md'",
        "'../shared/spec/OFFLINE.md'",
        "'SPEC_2.md'",
    ], found
    assert all("pkg/probe.py:" in f for f in found), found


def test_a_section_cited_by_title_must_exist(tmp_path):
    """A heading (backticks aside) or a paragraph's bold lead counts; a renamed or invented title does not."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "CACHE.md").write_text(
        "# Cache\n\n## The cache key\n\n### `generic`: your own data\n\n**Persons.** Slots.\n"
    )
    probe = tmp_path / "probe.py"
    probe.write_text(
        '"""(docs/CACHE.md, "The cache key") ([CACHE.md](CACHE.md), "generic") (CACHE.md, "Persons")\n'
        '(docs/CACHE.md, "Cache keys") # docs/CACHE.md,\n# "Importing texts"."""\n'
    )
    found = dead_citations(probe, root=tmp_path)
    assert found == [
        "probe.py:2: docs/CACHE.md has no section 'Cache keys'",
        "probe.py:2: docs/CACHE.md has no section 'Importing texts'",
    ], found
