"""The import directions between subpackages, and no import cycles (docs/ARCHITECTURE.md, "Import directions").

Every ``import`` in crossglg/ counts: module level, inside functions, under ``TYPE_CHECKING``,
relative ones, and ``importlib.import_module`` with a literal (or literal-prefixed) name. A
type-only import is still a dependency of the reader's mental model, so it obeys the same rule.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "crossglg"
DOC = REPO / "docs" / "ARCHITECTURE.md"

# modules any part of crossglg may import; they import only one another
FOUNDATION = frozenset(
    {"crossglg", "errors", "registry", "fieldcheck", "cli_numbers", "cli_support", "inputs", "outputs"}
)
# what each unit may import besides itself and the foundation; "*" = anything (the apps)
ALLOWED: dict[str, frozenset[str]] = {
    "vocab": frozenset(),
    "cache": frozenset({"vocab"}),
    "prompts": frozenset({"vocab"}),
    "data": frozenset({"vocab"}),
    "models": frozenset({"vocab"}),
    "embeddings": frozenset({"cache", "vocab"}),
    "baselines": frozenset({"data", "models", "vocab"}),
    "textgen": frozenset({"cache", "prompts", "data", "embeddings", "vocab"}),
    "train": frozenset({"data", "models", "embeddings", "baselines", "vocab"}),
    "cli": frozenset({"*"}),
    "text_cli": frozenset({"*"}),
    "demo": frozenset({"*"}),
}


@dataclass(frozen=True)
class Edge:
    source: str  # importing module, dotted
    target: str  # imported module (or package), dotted
    line: int


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _literal_prefix(node: ast.expr) -> str | None:
    """The module named by ``import_module("crossglg.x")`` or the fixed start of ``f"crossglg.x.{y}"``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return str(node.values[0].value).rstrip(".")
    return None


def import_edges(root: Path) -> tuple[set[str], list[Edge]]:
    """Every module under ``root/crossglg`` and every import edge between crossglg modules."""
    files = {module_name(p, root): p for p in sorted((root / "crossglg").rglob("*.py"))}
    edges: list[Edge] = []
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    module = ".".join([*base, node.module] if node.module else base)
                else:
                    module = node.module or ""
                # `from pkg import sub` imports the submodule when there is one
                targets = [
                    f"{module}.{a.name}" if f"{module}.{a.name}" in files else module for a in node.names
                ]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, (ast.Attribute, ast.Name))
                and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
                == "import_module"
                and node.args
            ):
                named = _literal_prefix(node.args[0])
                targets = [named] if named else []
            for target in targets:
                while target and target not in files and "." in target:  # a name inside a module
                    target = target.rsplit(".", 1)[0]
                if target in files and target != name:
                    edges.append(Edge(name, target, node.lineno))
    # `from m import a, b` is one edge
    return set(files), sorted(set(edges), key=lambda e: (e.source, e.line, e.target))


def unit(module: str) -> str:
    """The subpackage or top-level module a module belongs to (``crossglg`` for the package root)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def forbidden(edges: list[Edge]) -> list[str]:
    problems = []
    for e in edges:
        src, dst = unit(e.source), unit(e.target)
        if src == dst or dst in FOUNDATION:
            continue
        where = f"{e.source}:{e.line} imports {e.target}"
        if src in FOUNDATION:
            problems.append(f"{where}: the foundation modules import only one another")
        elif src not in ALLOWED or dst not in ALLOWED:
            new = src if src not in ALLOWED else dst
            problems.append(
                f"{where}: '{new}' has no row in the import-direction table "
                "(add it to ALLOWED here and to docs/ARCHITECTURE.md)"
            )
        elif "*" not in ALLOWED[src] and dst not in ALLOWED[src]:
            may = ", ".join(sorted(ALLOWED[src]))
            problems.append(
                f"{where}: {src} may import only {may + ' and ' if may else ''}the foundation modules "
                "(docs/ARCHITECTURE.md, 'Import directions')"
            )
    return problems


def cycles(modules: set[str], edges: list[Edge]) -> list[list[str]]:
    """One concrete cycle per strongly connected group of modules (Tarjan), shortest found by BFS."""
    graph: dict[str, set[str]] = defaultdict(set)
    for e in edges:
        graph[e.source].add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(v: str) -> None:  # recursive: the depth is at most the module count (~200)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(modules):
        if v not in index:
            visit(v)
    found = []
    for group in groups:
        start = min(group)
        paths = {start: [start]}
        queue = [start]
        while queue:
            v = queue.pop(0)
            for w in sorted(graph[v] & group):
                if w == start:
                    found.append([*paths[v], start])
                    queue = []
                    break
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    queue.append(w)
    return found


def documented_rule() -> dict[str, frozenset[str]]:
    """The table under "Import directions" in docs/ARCHITECTURE.md, as ``ALLOWED`` spells it."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Import directions", 1)[1].split("\n## ", 1)[0]
    rule = {}
    for row in re.findall(r"^\| *(`[^|]+) *\| *([^|]+?) *\|$", section, flags=re.M):
        names = re.findall(r"`([\w*]+)`", row[0])
        may = frozenset(re.findall(r"`([\w*]+)`", row[1])) if "anything" not in row[1] else frozenset({"*"})
        for name in names:
            rule[name] = may
    return rule


def test_subpackages_import_only_in_the_allowed_directions():
    modules, edges = import_edges(REPO)
    assert len(modules) > 100 and len(edges) > 300  # the walk found the package
    problems = forbidden(edges)
    assert not problems, "forbidden imports:\n" + "\n".join(problems)


def test_no_import_cycles_among_modules():
    modules, edges = import_edges(REPO)
    found = cycles(modules, edges)
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


# textgen writes the texts embeddings reads, so it does not import embeddings: the `crossglg-text`
# app that shows both is assembled above them (crossglg/text_cli.py). The one edge left is the
# check of the shipped packs' k_gt (textgen/packs.py, pack_problems), with the text bank's k_gt.
TEXTGEN_TO_EMBEDDINGS = {("crossglg.textgen.packs", "crossglg.embeddings.joint_importance")}


def test_textgen_reaches_embeddings_only_for_the_pack_check():
    found = {
        (e.source, e.target)
        for e in import_edges(REPO)[1]
        if unit(e.source) == "textgen" and unit(e.target) == "embeddings"
    }
    assert found <= TEXTGEN_TO_EMBEDDINGS, sorted(found - TEXTGEN_TO_EMBEDDINGS)


def test_the_architecture_doc_states_the_same_rule():
    assert documented_rule() == ALLOWED
    every_unit = {unit(m) for m in import_edges(REPO)[0]}
    assert every_unit <= ALLOWED.keys() | FOUNDATION, every_unit - ALLOWED.keys() - FOUNDATION


def test_the_checker_sees_every_kind_of_import(tmp_path):
    """A forbidden edge and a cycle hidden in each form the walk must read are reported."""
    pkg = tmp_path / "crossglg"
    for sub in ("vocab", "data", "cache"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "vocab" / "words.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from crossglg.data.table import T\n"
    )
    (pkg / "data" / "table.py").write_text("def f():\n    from ..vocab import words\n")
    (pkg / "cache" / "store.py").write_text(
        "import importlib\nimportlib.import_module('crossglg.data.table')\nfrom crossglg.cache import rows\n"
    )
    (pkg / "cache" / "rows.py").write_text("from . import store\n")
    modules, edges = import_edges(tmp_path)
    assert {(e.source, e.target) for e in edges} == {
        ("crossglg.vocab.words", "crossglg.data.table"),
        ("crossglg.data.table", "crossglg.vocab.words"),
        ("crossglg.cache.store", "crossglg.data.table"),
        ("crossglg.cache.store", "crossglg.cache.rows"),
        ("crossglg.cache.rows", "crossglg.cache.store"),
    }
    assert sorted(forbidden(edges), reverse=True) == [
        "crossglg.vocab.words:3 imports crossglg.data.table: vocab may import only the foundation modules "
        "(docs/ARCHITECTURE.md, 'Import directions')",
        "crossglg.cache.store:2 imports crossglg.data.table: cache may import only vocab and the foundation "
        "modules (docs/ARCHITECTURE.md, 'Import directions')",
    ]
    assert sorted(cycles(modules, edges)) == [
        ["crossglg.cache.rows", "crossglg.cache.store", "crossglg.cache.rows"],
        ["crossglg.data.table", "crossglg.vocab.words", "crossglg.data.table"],
    ]
