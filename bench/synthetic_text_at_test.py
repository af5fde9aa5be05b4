"""Text at test time where the text is true: the three training-free forms on held-out synthetic classes.

On MSR the forms of bench/text_at_test_time.py (joint weights and a motion prior from each class's
k_gt) and bench/semantic_prior.py (a zero-shot prior from a ridge map of motion to text) had ten
described auxiliary classes and texts nobody can make truer. Here the texts are the synthetic
oracle's (bench/synthetic_oracle_text.py: true of the data by construction) and every base class
of the protocol is described. Each form's setting is chosen on the protocol's base classes run
one-shot (the zero-shot map: on halvings of them); the held-out classes are evaluated once, beside
no text (``ndtw``) and the shuffled control (docs/RESULTS.md, "Text at test time where the text is
true").

    python bench/synthetic_text_at_test.py --data synth/data --oracle synth/oracle.jsonl \\
        --protocol held10.toml --out synth/text-at-test.json
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def base_protocol(protocol: Path, out: Path) -> Path:
    """The protocol's base classes as a one-shot task of their own (same exemplar rule), written to ``out``."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    table = tomllib.loads(protocol.read_text(encoding="utf-8"))
    base = table.pop("base_classes")
    table.update(name=f"{table['name']}-base", novel_classes=base)
    lines = [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def run(data: Path, oracle: Path, protocol: Path, work: Path) -> dict:
    """One row per form: the chosen setting, accuracies on the held-out classes and the paired differences."""
    from bench import semantic_prior as sp
    from bench import text_at_test_time as tt
    from crossglg.cache.importing import read_import_jsonl

    records = read_import_jsonl(oracle)
    k_of = partial(tt.records_k, records)
    aux = tt.task_of(data, str(base_protocol(protocol, work / "base-classes.toml")), k_of)
    held = tt.task_of(data, str(protocol), k_of)
    rows = []
    for form in tt.GRIDS:
        value, aux_acc = tt.choose(aux, form)
        rows.append(tt.row(form, value, aux_acc, tt.evaluate(held, form, value)))
    vectors = sp.slot_vectors(records)
    scored_aux = sp.Scored.of(aux)
    (alpha, lam), aux_acc = sp.choose(scored_aux, vectors)
    tmap = sp.fitted(scored_aux, vectors, alpha)
    result = sp.evaluate(sp.Scored.of(held), tmap, vectors, lam)
    rows.append(tt.row("semantic", f"alpha={alpha:g} lam={lam:g}", aux_acc, result))
    return {"data": str(data), "oracle": str(oracle), "protocol": str(protocol), "rows": rows}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="prepared synthetic folder (crossglg data synth)")
    p.add_argument("--oracle", type=Path, required=True, help="bench/synthetic_oracle_text.py's JSONL")
    p.add_argument(
        "--protocol", type=Path, required=True, help="protocol TOML: base classes, held-out classes"
    )
    p.add_argument("--out", type=Path, required=True, help="result JSON")
    args = p.parse_args(argv)
    doc = run(args.data, args.oracle, args.protocol, args.out.parent)
    args.out.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    for r in doc["rows"]:
        diffs = [f"{100 * m:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]" for m, lo, hi in
                 (r["text - no text"], r["text - shuffled"])]  # fmt: skip
        print(f"{r['split']:9} {r['value']!s:18} no text {100 * r['no text']:.1f}  text {100 * r['text']:.1f}  "
              f"shuffled {100 * r['shuffled']:.1f}  text - no text {diffs[0]}  text - shuffled {diffs[1]}")  # fmt: skip


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))  # `python bench/synthetic_text_at_test.py` finds `bench`
    main()
