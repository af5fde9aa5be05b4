"""The two prompt templates: editable text files, versioned by the hash of their content.

A template file holds ``[system]`` and ``[user]`` sections; ``$action``, ``$parts`` and
``$n_parts`` are filled in (``string.Template``, so JSON braces need no escaping), and a
user's own template may also use ``$examples`` and ``$dataset_description``
(:mod:`crossglg.prompts.custom`, docs/TEXTGEN.md "Your own prompts"). The cache key is
computed from the *rendered* messages, so editing a template invalidates exactly the prompts
whose text changed; the template hash is kept only as provenance.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from crossglg.errors import UserError
from crossglg.inputs import read_input_text

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATE_NAMES = ("global", "local")
ROLES = ("system", "user")
CONTEXT_PLACEHOLDERS = frozenset({"examples", "dataset_description"})  # filled from CLI options
PLACEHOLDERS = {
    "global": {"action"} | CONTEXT_PLACEHOLDERS,
    "local": {"action", "parts", "n_parts"} | CONTEXT_PLACEHOLDERS,
}
# a prompt without these cannot say what to describe
REQUIRED = {"global": frozenset({"action"}), "local": frozenset({"action", "parts"})}


@dataclass(frozen=True)
class Template:
    """A parsed template; ``prompt_id`` is the sha256 of the file's exact text."""

    name: str
    text: str
    source: str
    sections: tuple[tuple[str, str], ...]
    placeholders: frozenset[str] = frozenset()

    @property
    def prompt_id(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def version_label(self) -> str:
        return f"{self.name}@{self.prompt_id[:12]}"

    def render(
        self, action: str, parts: tuple[str, ...] = (), extra: Mapping[str, str] | None = None
    ) -> list[dict[str, str]]:
        """Chat messages for one class (and, for the local prompt, its part/joint list).

        ``extra`` fills ``$examples`` and ``$dataset_description``; a template that uses one
        without a value is a user error, never a half-rendered prompt that would be paid for.
        """
        values = {"action": action, "parts": ", ".join(parts), "n_parts": str(len(parts)), **(extra or {})}
        missing = sorted(self.placeholders - values.keys())
        if missing:
            raise UserError(f"{self.source}: ${missing[0]} has no value ({CONTEXT_HELP[missing[0]]})")
        return [
            {"role": role, "content": string.Template(body).substitute(values)}
            for role, body in self.sections
        ]


CONTEXT_HELP = {
    "examples": "pass --examples FILE",
    "dataset_description": "pass --dataset-description TEXT or --dataset-description-file FILE",
}


def _parse(name: str, text: str, source: str) -> Template:
    sections: list[tuple[str, list[str]]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        header = line.strip()
        if header.startswith("[") and header.endswith("]") and header[1:-1] in ROLES:
            sections.append((header[1:-1], []))
        elif sections:
            sections[-1][1].append(line)
        elif header:
            raise UserError(f"{source}:{lineno}: text before the first [system] or [user] header")
    if not any(role == "user" for role, _ in sections):
        raise UserError(f"{source}: a prompt template needs a [user] section")
    allowed = PLACEHOLDERS[name]
    out = []
    all_used: set[str] = set()
    for role, lines in sections:
        body = "\n".join(lines).strip()
        used = set()
        for m in string.Template.pattern.finditer(body):  # is_valid()/get_identifiers() need 3.11
            if m.group("invalid") is not None:
                raise UserError(
                    f"{source}: invalid $placeholder in the [{role}] section (write $$ for a dollar sign)"
                )
            if m.group("named") or m.group("braced"):
                used.add(m.group("named") or m.group("braced"))
        unknown = used - allowed
        if unknown:
            raise UserError(
                f"{source}: unknown placeholder(s) {', '.join(sorted('$' + u for u in unknown))} in [{role}];"
                f" the {name} template may use {', '.join(sorted('$' + a for a in allowed))}"
            )
        out.append((role, body))
        all_used |= used
    missing = sorted(REQUIRED[name] - all_used)
    if missing:
        raise UserError(
            f"{source}: the {name} template must use {', '.join('$' + m for m in missing)} "
            "(without it the prompt cannot say what to describe)"
        )
    return Template(
        name=name, text=text, source=source, sections=tuple(out), placeholders=frozenset(all_used)
    )


def load_template(name: str, path: str | Path | None = None) -> Template:
    """The built-in ``global`` or ``local`` template, or a user's edited copy at ``path``."""
    if name not in TEMPLATE_NAMES:
        raise UserError(f"unknown prompt template {name!r}; known: {', '.join(TEMPLATE_NAMES)}")
    file = Path(path) if path is not None else TEMPLATE_DIR / f"{name}.txt"
    return _parse(name, read_prompt_file(file, "prompt template"), str(file))


def read_prompt_file(path: Path, what: str) -> str:
    """A user's prompt file as text; missing, unreadable or not UTF-8 is one line naming it.

    A leading byte-order mark (Windows editors write one) is dropped: kept, it made a template's
    first line ``\ufeff[system]``, refused as "text before the first [system] header", and put an
    invisible character into a dataset description.
    """
    try:
        return read_input_text(path, what, encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{path}: {what} not found") from None
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: {what} is not UTF-8 text (byte {err.start})") from None
    except OSError as err:  # a folder, no permission
        raise UserError(f"{path}: cannot read the {what} ({err.strerror or err})") from None


def load_templates(specs: list[str] | None = None, folder: Path | None = None) -> tuple[Template, Template]:
    """The (global, local) pair from ``--templates DIR`` and ``--template NAME=FILE`` options.

    A folder gives ``global.txt`` and/or ``local.txt``; ``--template`` overrides a name; what
    neither names stays the built-in template, so its prompts keep their keys.
    """
    files: dict[str, Path] = {}
    if folder is not None:
        if not folder.is_dir():
            raise UserError(
                f"--templates {folder}: not a folder (it should hold global.txt and/or local.txt)"
            )
        files = {n: folder / f"{n}.txt" for n in TEMPLATE_NAMES if (folder / f"{n}.txt").exists()}
        if not files:
            raise UserError(f"--templates {folder}: the folder has neither global.txt nor local.txt")
    given: set[str] = set()
    for spec in specs or []:
        name, sep, path = spec.partition("=")
        name = name.strip()
        if not sep or not path:
            raise UserError(f"--template {spec!r}: write NAME=FILE, NAME being global or local")
        if name not in TEMPLATE_NAMES:
            raise UserError(
                f"--template {spec!r}: unknown prompt {name!r}; known: {', '.join(TEMPLATE_NAMES)}"
            )
        if name in given:
            raise UserError(f"--template {name}=… is given twice")
        given.add(name)
        files[name] = Path(path)
    g, loc = (load_template(n, files.get(n)) for n in TEMPLATE_NAMES)
    return g, loc
