"""textgen writes the texts that embeddings reads, so no textgen module may import embeddings.

The ``crossglg-text`` app that shows both is assembled above them, in crossglg/text_cli.py
(docs/ARCHITECTURE.md). Imports inside functions count too: they are how the commands load.
"""

from __future__ import annotations

import ast
from pathlib import Path

TEXTGEN = Path(__file__).resolve().parents[2] / "crossglg" / "textgen"
# the one exception left: pack_problems (run by the tests of the shipped packs) checks each pack's
# k_gt with the joint dictionary of embeddings/joint_importance.py; that dictionary is shared
# vocabulary and leaves embeddings with the rest of it (issue 15, item 1)
KNOWN = {"packs.py: crossglg.embeddings.joint_importance"}


def imported_modules(path: Path) -> set[str]:
    """Every module a Python file imports, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_textgen_module_imports_embeddings():
    offenders = sorted(
        f"{path.name}: {module}"
        for path in TEXTGEN.rglob("*.py")
        for module in imported_modules(path)
        if module == "crossglg.embeddings" or module.startswith("crossglg.embeddings.")
        if not any(f"{path.name}: {module}".startswith(known) for known in KNOWN)
    )
    assert not offenders, offenders


def test_the_scan_sees_imports_inside_functions(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "def f():\n    from crossglg.embeddings.cli import register\n    import crossglg.cache\n"
    )
    assert {"crossglg.embeddings.cli", "crossglg.cache"} <= imported_modules(probe)
