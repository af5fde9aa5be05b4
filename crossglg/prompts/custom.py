"""Your own prompts: template files, few-shot example answers and a dataset description.

``crossglg-text generate``/``prompts`` take ``--templates DIR`` / ``--template NAME=FILE``
(:func:`crossglg.prompts.templates.load_templates`), ``--examples FILE`` (filling
``$examples``) and ``--dataset-description`` (filling ``$dataset_description``); see
docs/TEXTGEN.md, "Your own prompts". What they add is part of the rendered messages, so it is
part of every cache key: a changed example or description is a new request, the same ones a
cache hit.

Every mismatch between the options and the templates is refused before anything is sent: an
example file that no template uses would otherwise be paid for without ever reaching a
prompt, and a template placeholder without a value would send a prompt with a hole in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossglg.errors import UserError
from crossglg.prompts.answers import answer_problems
from crossglg.prompts.templates import CONTEXT_HELP, Template, load_templates, read_prompt_file

EXAMPLE_FIELDS = ("action", "global", "local")
MAX_CONTEXT_CHARS = 100_000  # a description or examples file beyond this is a wrong file, not a prompt


@dataclass(frozen=True)
class Example:
    """One class's example answers; ``line`` is where it stands in the examples file."""

    action: str
    answers: dict[str, dict[str, Any]]  # "global" and/or "local" → the answer's JSON object
    line: int


@dataclass(frozen=True)
class PromptContext:
    """The values of ``$examples`` and ``$dataset_description`` (None: not given)."""

    dataset_description: str | None = None
    examples: tuple[Example, ...] | None = None
    examples_file: str | None = None

    def render(self, tpl: Template, action: str, slots: tuple[str, ...] = ()) -> list[dict[str, str]]:
        """``tpl``'s messages for one class, with this context filled in."""
        extra = {}
        if "dataset_description" in tpl.placeholders and self.dataset_description is not None:
            extra["dataset_description"] = self.dataset_description
        if "examples" in tpl.placeholders and self.examples is not None:
            extra["examples"] = self.examples_text(tpl.name, action, slots)
        return tpl.render(action, slots, extra)

    def examples_text(self, prompt: str, action: str, slots: tuple[str, ...]) -> str:
        """The example answers for ``prompt`` (global or local), leaving out ``action``'s own.

        An example of the very class being described would be copied, not imitated. Local
        examples must answer exactly the slots asked for (their keys are the JSON the model
        is shown), in the order the prompt asks.
        """
        blocks = []
        for ex in self.examples or ():
            answer = ex.answers.get(prompt)
            if answer is None or ex.action.casefold() == action.casefold():
                continue
            if prompt == "local":
                if set(answer) != set(slots):
                    raise UserError(
                        f"{self.examples_file}:{ex.line}: the local example of {ex.action!r} answers "
                        f"{', '.join(answer)}, but the local prompt asks for {', '.join(slots)} (--parts)"
                    )
                answer = {slot: answer[slot] for slot in slots}
            blocks.append(f'Action "{ex.action}":\n{json.dumps(answer, ensure_ascii=False)}')
        return "\n\n".join(blocks)

    def check(self, templates: tuple[Template, ...]) -> None:
        """Every given value is used by a template, and every used placeholder has a value."""
        for name, given, option in (
            ("dataset_description", self.dataset_description is not None, "--dataset-description"),
            ("examples", self.examples is not None, f"--examples {self.examples_file}"),
        ):
            users = [t for t in templates if name in t.placeholders]
            if given and not users:
                sources = " and ".join(t.source for t in templates)
                raise UserError(
                    f"{option} is given but no prompt template uses ${name} ({sources}); "
                    f"add ${name} to your template (docs/TEXTGEN.md, 'Your own prompts')"
                )
            if not given and users:
                raise UserError(f"{users[0].source}: uses ${name}, which has no value ({CONTEXT_HELP[name]})")
        for tpl in templates:
            has_examples = self.examples is not None and any(tpl.name in ex.answers for ex in self.examples)
            if "examples" in tpl.placeholders and self.examples is not None and not has_examples:
                raise UserError(
                    f"{tpl.source}: uses $examples, but {self.examples_file} has no {tpl.name!r} example answers"
                )


@dataclass(frozen=True)
class Prompts:
    """The two templates in use and what fills their context placeholders."""

    templates: tuple[Template, Template]
    context: PromptContext

    def describe(self) -> dict[str, Any]:
        """What a run records about its prompts (template files, examples, description)."""
        return {
            "templates": {t.name: t.source for t in self.templates},
            "examples": self.context.examples_file,
            "dataset_description": self.context.dataset_description,
        }


def _read_text(path: Path, what: str) -> str:
    text = read_prompt_file(path, what)
    if len(text) > MAX_CONTEXT_CHARS:
        raise UserError(
            f"{path}: the {what} has {len(text)} characters; more than {MAX_CONTEXT_CHARS} is no prompt"
        )
    return text


def read_description(text: str | None = None, path: Path | None = None) -> str | None:
    """``--dataset-description TEXT`` or ``--dataset-description-file FILE`` (not both), stripped."""
    if text is not None and path is not None:
        raise UserError("give --dataset-description or --dataset-description-file, not both")
    if path is not None:
        text = _read_text(path, "dataset description")
    if text is None:
        return None
    where = str(path) if path is not None else "--dataset-description"
    if not text.strip():
        raise UserError(f"{where}: the dataset description is empty")
    if len(text) > MAX_CONTEXT_CHARS:
        raise UserError(f"{where}: the dataset description has more than {MAX_CONTEXT_CHARS} characters")
    return text.strip()


def _example(path: Path, lineno: int, line: str) -> Example:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError) as err:
        raise UserError(f"{path}:{lineno}: not a JSON object ({err})") from None
    if not isinstance(obj, dict):
        raise UserError(f"{path}:{lineno}: not a JSON object")
    unknown = sorted(set(obj) - set(EXAMPLE_FIELDS))
    if unknown:
        raise UserError(
            f"{path}:{lineno}: unknown field {unknown[0]!r}; an example has {', '.join(EXAMPLE_FIELDS)}"
        )
    action = obj.get("action")
    if not isinstance(action, str) or not action.strip() or not action.isprintable():
        raise UserError(f"{path}:{lineno}: field 'action' must be the action's name (one line of text)")
    answers = {k: obj[k] for k in ("global", "local") if k in obj}
    if not answers:
        raise UserError(f"{path}:{lineno}: give the example's 'global' and/or 'local' answer")
    for kind, answer in answers.items():
        slots = tuple(answer) if kind == "local" and isinstance(answer, dict) else ()
        problems = answer_problems(kind, answer, slots)
        if kind == "local" and isinstance(answer, dict) and not answer:
            problems = ["it has no body parts"]
        if kind == "global" and isinstance(answer, dict) and set(answer) - {"description", "key_body_parts"}:
            problems.append(
                f"unknown key(s) {', '.join(sorted(set(answer) - {'description', 'key_body_parts'}))}"
            )
        if problems:
            raise UserError(f"{path}:{lineno}: field {kind!r}: {problems[0]}")
    return Example(action=action.strip(), answers=answers, line=lineno)


def read_examples(path: Path) -> tuple[Example, ...]:
    """Few-shot example answers: JSONL, one ``{"action", "global"?, "local"?}`` object a line.

    ``global`` is an answer to the global prompt (``description``, ``key_body_parts``),
    ``local`` one to the local prompt (one sentence per body part). Checked whole first; an
    error names the file, line and field.
    """
    examples = []
    seen: dict[str, int] = {}
    # split on "\n" only: str.splitlines() also breaks at U+2028, U+2029 and U+0085, which JSON
    # allows unescaped inside a string, and so cut a valid line in two
    for lineno, line in enumerate(_read_text(path, "examples file").split("\n"), start=1):
        if not line.strip():
            continue
        ex = _example(path, lineno, line)
        if ex.action.casefold() in seen:
            raise UserError(
                f"{path}:{lineno}: {ex.action!r} is already an example on line {seen[ex.action.casefold()]}"
            )
        seen[ex.action.casefold()] = lineno
        examples.append(ex)
    if not examples:
        raise UserError(f"{path}: the examples file has no examples")
    return tuple(examples)


def load_prompts(
    template: list[str] | None = None,
    templates: Path | None = None,
    examples: Path | None = None,
    description: str | None = None,
    description_file: Path | None = None,
) -> Prompts:
    """The templates and context the CLI options name, checked against each other."""
    pair = load_templates(template, templates)
    context = PromptContext(
        dataset_description=read_description(description, description_file),
        examples=read_examples(examples) if examples is not None else None,
        examples_file=str(examples) if examples is not None else None,
    )
    context.check(pair)
    return Prompts(templates=pair, context=context)
