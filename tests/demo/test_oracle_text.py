"""bench/synthetic_oracle_text.py: descriptions true of the synthetic generator, importable as written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.synthetic_oracle_text import main
from crossglg.vocab.protocols import get_protocol

REPO = Path(__file__).resolve().parents[2]


def test_oracle_text_says_which_parts_move_and_imports(tmp_path):
    out = tmp_path / "oracle.jsonl"
    main([str(out)])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    base = set(get_protocol("synthetic").base_class_ids)
    assert {r["class_id"] for r in rows} == base and len(rows) == 7 * len(base)
    kick = {r.get("slot", "global"): r for r in rows if r["class_name"] == "kick right leg"}
    assert kick["global"]["key_body_parts"] == ["right leg", "right foot"]
    assert kick["leg"]["text"] == "The right leg moves." and kick["foot"]["text"] == "The right foot moves."
    assert all(kick[s]["text"] == f"The {s} stays still." for s in ("head", "hand", "arm", "hip"))
    jump = {r.get("slot", "global"): r for r in rows if r["class_name"] == "jump"}
    assert all(
        jump[s]["text"] == "The whole body moves." for s in ("head", "hand", "arm", "hip", "leg", "foot")
    )

    cache = tmp_path / "cache.db"
    proc = subprocess.run(
        [sys.executable, "-m", "crossglg.textgen.cli", "import", str(out), "--label", "oracle",
         "--cache", str(cache)], capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"imported {len(rows)} texts" in proc.stdout
