"""One-shot protocols as data: which classes train (auxiliary/base), which are novel, and the exemplars.

Every protocol is a TOML file (format in docs/DATA.md); the built-in ones sit beside this
module, so registering a new one means dropping a file here (or calling
:func:`register_protocol`); another distribution adds protocols through the
``crossglg.protocols`` entry-point group (docs/PLUGINS.md). The text toolkit asks this module
which classes may be sent to an LLM: text is generated for base classes only, so nothing about
a novel class can leak into training (docs/TEXTGEN.md, "Which classes get text — read this once").
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from crossglg.errors import UserError
from crossglg.inputs import read_input_text
from crossglg.registry import Registry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EXEMPLAR_RULES = ("names", "earliest")
# exemplar_pattern: literal text (no braces, or {{ }}) and {class_id} fields with at most a
# zero-padded width of 1..9 digits, e.g. "S001C003P008R001A{class_id:03d}" (docs/DATA.md)
_PATTERN_FIELD = re.compile(r"\{class_id(?::0?[1-9]d)?\}")
_PATTERN_TEXT = re.compile(r"(?:[^{}]|\{\{|\}\})*")
MAX_CLASSES = 100_000


@dataclass(frozen=True)
class Protocol:
    """A one-shot protocol; class ids are 1-based as in the class lists."""

    name: str
    dataset: str
    base_class_ids: tuple[int, ...]
    novel_class_ids: tuple[int, ...]
    # one sample name per novel class, in novel_class_ids order (empty with the "earliest" rule)
    exemplars: tuple[str, ...] = ()
    exemplar_rule: str = "names"
    # with the "earliest" rule: draw exemplars only from samples of this group (e.g. "validation")
    exemplar_group: str = ""
    validation_class_ids: tuple[int, ...] = ()
    exclude_samples: tuple[str, ...] = ()
    auxiliary_subsets: tuple[int, ...] = ()
    expected: dict[str, int] = field(default_factory=dict, hash=False, compare=False)
    description: str = ""

    def with_auxiliary(self, k: int) -> Protocol:
        """The same novel classes and exemplars with only the first ``k`` auxiliary class ids."""
        if not 0 < k <= len(self.base_class_ids):
            raise UserError(
                f"protocol {self.name}: {k} auxiliary classes asked, it has {len(self.base_class_ids)}"
            )
        base = tuple(sorted(self.base_class_ids)[:k])
        return replace(
            self,
            name=f"{self.name}-aux{k}",
            base_class_ids=base,
            validation_class_ids=tuple(c for c in self.validation_class_ids if c in base),
            auxiliary_subsets=(),
            expected={k_: v for k_, v in self.expected.items() if k_ != "auxiliary"},
            description=f"{self.description} (first {k} auxiliary classes by id)",
        )


def _ids(raw: Any, where: str, key: str) -> tuple[int, ...]:
    if not isinstance(raw, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) and 1 <= c <= MAX_CLASSES for c in raw
    ):
        raise UserError(f"{where}: '{key}' must be a list of 1-based class ids")
    if len(set(raw)) != len(raw):
        raise UserError(f"{where}: '{key}' lists a class twice")
    return tuple(raw)


def protocol_from_dict(raw: dict[str, Any], where: str) -> Protocol:
    """Validate a parsed protocol file; every error names the file and the field."""
    for key in ("name", "novel_classes"):
        if key not in raw:
            raise UserError(f"{where}: required field '{key}' missing")
    for key in ("name", "dataset", "description", "exemplar_group", "exemplar_pattern", "exemplar_rule"):
        if key in raw and not isinstance(raw[key], str):
            raise UserError(f"{where}: '{key}' must be a string")
        if key in raw and key != "description" and not raw[key].isprintable():  # printed by many commands
            raise UserError(f"{where}: '{key}' holds control characters: {raw[key]!r}")
    if not raw["name"].strip():
        raise UserError(f"{where}: 'name' is empty")
    novel = _ids(raw["novel_classes"], where, "novel_classes")
    if not novel:
        raise UserError(f"{where}: 'novel_classes' is empty; a one-shot protocol needs novel classes")
    if "base_classes" in raw:
        base = _ids(raw["base_classes"], where, "base_classes")
    elif "num_classes" in raw:
        n = raw["num_classes"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CLASSES:
            raise UserError(f"{where}: 'num_classes' must be an integer in 1..{MAX_CLASSES}, got {n!r}")
        if max(novel) > n:
            raise UserError(f"{where}: novel class {max(novel)} is beyond num_classes = {n}")
        base = tuple(c for c in range(1, n + 1) if c not in novel)
    else:
        raise UserError(f"{where}: give 'base_classes' or 'num_classes'")
    if set(base) & set(novel):
        raise UserError(f"{where}: classes {sorted(set(base) & set(novel))} are both base and novel")
    rule = raw.get("exemplar_rule", "names")
    if rule not in EXEMPLAR_RULES:
        raise UserError(f"{where}: 'exemplar_rule' must be one of {', '.join(EXEMPLAR_RULES)}")
    if "exemplar_pattern" in raw:
        exemplars = tuple(_pattern(raw["exemplar_pattern"], where).format(class_id=c) for c in novel)
    else:
        listed = raw.get("exemplars", [])
        if not isinstance(listed, list) or not all(isinstance(e, str) for e in listed):
            raise UserError(f"{where}: 'exemplars' must be a list of sample names")
        exemplars = tuple(listed)
    if rule == "names" and len(exemplars) != len(novel):
        raise UserError(
            f"{where}: {len(exemplars)} exemplars for {len(novel)} novel classes (one each, same order)"
        )
    validation = _ids(raw.get("validation_classes", []), where, "validation_classes")
    if set(validation) - set(base):
        raise UserError(
            f"{where}: validation classes {sorted(set(validation) - set(base))} are not base classes"
        )
    subsets = raw.get("auxiliary_subsets", [])
    if not isinstance(subsets, list) or any(
        isinstance(k, bool) or not isinstance(k, int) or not 0 < k <= len(base) for k in subsets
    ):
        raise UserError(f"{where}: 'auxiliary_subsets' must be class counts in 1..{len(base)}")
    for key, kind in (("exclude_samples", list), ("expected", dict)):
        if key in raw and not isinstance(raw[key], kind):
            raise UserError(f"{where}: '{key}' must be a {'list' if kind is list else 'table'}")
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in raw.get("expected", {}).values()):
        raise UserError(f"{where}: the values of [expected] must be counts >= 0")
    return Protocol(
        name=str(raw["name"]),
        dataset=str(raw.get("dataset", "generic")),
        base_class_ids=base,
        novel_class_ids=novel,
        exemplars=exemplars,
        exemplar_rule=rule,
        exemplar_group=str(raw.get("exemplar_group", "")),
        validation_class_ids=validation,
        exclude_samples=tuple(str(s) for s in raw.get("exclude_samples", ())),
        auxiliary_subsets=tuple(subsets),
        expected={str(k): int(v) for k, v in raw.get("expected", {}).items()},
        description=str(raw.get("description", "")),
    )


def _pattern(pattern: str, where: str) -> str:
    """``pattern`` when it holds only text and bounded ``{class_id}`` fields (no attributes, no indexing)."""
    text = _PATTERN_FIELD.sub("", pattern)
    if not _PATTERN_FIELD.search(pattern) or not _PATTERN_TEXT.fullmatch(text):
        raise UserError(
            f"{where}: 'exemplar_pattern' must hold {{class_id}} or {{class_id:0Nd}} (N = 1..9) and plain text, "
            f"got {pattern[:80]!r}"
        )
    return pattern


def read_protocol_file(path: Path) -> Protocol:
    try:
        raw = tomllib.loads(read_input_text(path, "protocol file"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not a readable protocol TOML file ({err})") from None
    return protocol_from_dict(raw, str(path))


def _check(obj: object) -> str | None:
    return None if isinstance(obj, Protocol) else f"{obj!r} is not a Protocol (read_protocol_file gives one)"


def _adopt(name: str, protocol: Protocol) -> None:
    if protocol.name != name:
        raise UserError(f"the entry point's name must be the protocol's name {protocol.name!r}")
    register_protocol(protocol)


PROTOCOLS: Registry[Protocol] = Registry(
    "one-shot protocol", "crossglg.protocols", check=_check, adopt=_adopt
)
# the protocol used when a command names only a dataset
DEFAULT_PROTOCOL: dict[str, str] = {}


def register_protocol(protocol: Protocol) -> None:
    """Make ``protocol`` (and its auxiliary-subset variants) available by name."""
    PROTOCOLS.register(protocol.name)(protocol)
    if protocol.name == protocol.dataset:
        DEFAULT_PROTOCOL[protocol.dataset] = protocol.name
    for k in protocol.auxiliary_subsets:
        variant = protocol.with_auxiliary(k)
        PROTOCOLS.register(variant.name)(variant)


def _load_builtin() -> None:
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            with resources.as_file(entry) as path:
                register_protocol(read_protocol_file(path))


_load_builtin()


def get_protocol(name: str) -> Protocol:
    return PROTOCOLS.get(name)


def load_protocol(name_or_file: str | Path, dataset: str | None = None) -> Protocol:
    """A built-in protocol by name, or a protocol TOML file; checked against ``dataset`` when given."""
    text = str(name_or_file)
    path = Path(text)
    protocol = read_protocol_file(path) if text.endswith(".toml") or path.is_file() else get_protocol(text)
    if dataset and protocol.dataset not in (dataset, "generic") and dataset != "generic":
        raise UserError(f"protocol {protocol.name} is for dataset {protocol.dataset}, the data is {dataset}")
    return protocol
