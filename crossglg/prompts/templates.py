"""The two prompt templates: editable text files, versioned by the hash of their content.

A template file holds ``[system]`` and ``[user]`` sections; ``$action``, ``$parts`` and
``$n_parts`` are filled in (``string.Template``, so JSON braces need no escaping). The cache
key is computed from the *rendered* messages, so editing a template invalidates exactly the
prompts whose text changed; the template hash is kept only as provenance.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from pathlib import Path

from crossglg.errors import UserError

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATE_NAMES = ("global", "local")
ROLES = ("system", "user")
PLACEHOLDERS = {"global": {"action"}, "local": {"action", "parts", "n_parts"}}


@dataclass(frozen=True)
class Template:
    """A parsed template; ``prompt_id`` is the sha256 of the file's exact text."""

    name: str
    text: str
    source: str
    sections: tuple[tuple[str, str], ...]

    @property
    def prompt_id(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def version_label(self) -> str:
        return f"{self.name}@{self.prompt_id[:12]}"

    def render(self, action: str, parts: tuple[str, ...] = ()) -> list[dict[str, str]]:
        """Chat messages for one class (and, for the local prompt, its part/joint list)."""
        values = {"action": action, "parts": ", ".join(parts), "n_parts": str(len(parts))}
        return [
            {"role": role, "content": string.Template(body).substitute(values)}
            for role, body in self.sections
        ]


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
    return Template(name=name, text=text, source=source, sections=tuple(out))


def load_template(name: str, path: str | Path | None = None) -> Template:
    """The built-in ``global`` or ``local`` template, or a user's edited copy at ``path``."""
    if name not in TEMPLATE_NAMES:
        raise UserError(f"unknown prompt template {name!r}; known: {', '.join(TEMPLATE_NAMES)}")
    file = Path(path) if path is not None else TEMPLATE_DIR / f"{name}.txt"
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{file}: prompt template not found") from None
    except UnicodeDecodeError:
        raise UserError(f"{file}: prompt template is not UTF-8 text") from None
    return _parse(name, text, str(file))
