"""Correct text for the synthetic actions, written from the generator's own metadata.

The embedded SmolLM2 writes fluent but wrong anatomy, and MSR Action3D's ten auxiliary classes
are all arm gestures, so neither can tell whether CrossGLG's guidance helps when the text is
right. The synthetic generator knows which body parts each action moves (``Action.parts``), so
the descriptions below are true of the data by construction: the global text names the moving
parts (and ``key_body_parts`` lists them for the joint-importance target), and each of the six
part slots says whether that part moves. Output is ``crossglg-text import``'s JSONL format.

    python bench/synthetic_oracle_text.py oracle.jsonl          # the 30 base classes
    crossglg-text import oracle.jsonl --label oracle --cache oracle.db
    crossglg-text embed --cache oracle.db
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from crossglg.data.synthetic.actions import ACTIONS, Action
from crossglg.vocab.parts import part_set
from crossglg.vocab.protocols import get_protocol

# parts6 slot → the generator's part names that move it ("whole body" moves every slot)
SLOT_PARTS = {
    "head": ("head",),
    "hand": ("right hand", "left hand"),
    "arm": ("right arm", "left arm"),
    "hip": ("torso",),
    "leg": ("right leg", "left leg"),
    "foot": ("right foot", "left foot"),
}


def _listed(parts: list[str] | tuple[str, ...]) -> str:
    """ "the right leg", "the right leg and right foot", "the a, b and c", with its verb."""
    words = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"the {words} move{'s' if len(parts) == 1 else ''}"


def records(action: Action) -> list[dict]:
    """One global and six part records for one action."""
    base = {"dataset": "synthetic", "class_id": action.id, "class_name": action.name}
    rows = [{**base, "kind": "global", "key_body_parts": list(action.parts),
             "text": f"To {action.name}, {_listed(action.parts)}; the rest of the body stays still."}]  # fmt: skip
    for slot in part_set("parts6").slots:
        parts = [p for p in action.parts if p == "whole body" or p in SLOT_PARTS[slot]]
        text = _listed(parts).capitalize() + "." if parts else f"The {slot} stays still."
        rows.append({**base, "kind": "part", "slot": slot, "text": text})
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="JSONL file to write")
    p.add_argument("--protocol", default="synthetic", help="describe this protocol's base classes")
    args = p.parse_args(argv)
    base = set(get_protocol(args.protocol).base_class_ids)
    lines = [json.dumps(r) for a in ACTIONS if a.id in base for r in records(a)]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} records for {len(base)} classes to {args.out}")


if __name__ == "__main__":
    main()
