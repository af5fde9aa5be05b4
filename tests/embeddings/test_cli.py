"""`crossglg-text generate` against a scripted OpenAI-compatible server, then `embed`, then the text bank.

The documented flow of docs/EMBEDDINGS.md, run through the real CLI app in-process.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from crossglg.embeddings.textbank import TextBank
from crossglg.text_cli import app
from crossglg.textgen.testing_server import Reply, ScriptedServer
from crossglg.vocab.classes import load_classes
from crossglg.vocab.layouts import get_layout

from .conftest import MSR_GLOBAL

cli = CliRunner()
MSR_NAMES = {c.name: c.class_id for c in load_classes("msr-action3d").classes}


def describe(body: dict[str, Any], seen: int) -> Reply:
    """A stand-in LLM that knows MSR Action3D: class-specific global answers, one sentence per slot."""
    del seen
    prompt = body["messages"][-1]["content"]
    action = re.search(r'the action "([^"]+)"', prompt).group(1)
    schema = body["response_format"]["json_schema"]["schema"]
    if "key_body_parts" in schema["properties"]:
        desc, parts = MSR_GLOBAL.get(
            MSR_NAMES[action], (f"The person does a {action} with the whole body.", [])
        )
        answer: dict[str, Any] = {"description": desc, "key_body_parts": parts or ["rhythm"]}
    else:
        answer = {slot: f"In {action} the {slot} follows the movement." for slot in schema["properties"]}
    return Reply(kind="text", content=json.dumps(answer))


def run(*args: str) -> tuple[int, str]:
    result = cli.invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


@pytest.fixture
def generated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """cwd = a folder whose cache.db holds `generate --dataset msr-action3d` answers (all 20 classes)."""
    monkeypatch.chdir(tmp_path)
    with ScriptedServer(describe) as server:
        # key body parts the joint dictionary does not know ("rhythm") exercise k_gt's free-text
        # fallback; such answers are degenerate (docs/TEXTGEN.md), kept whole here
        code, out = run(
            "generate",
            "--dataset",
            "msr-action3d",
            "--llm",
            "scripted",
            "--base-url",
            server.base_url,
            "--accept-degenerate",
        )
    assert code == 0, out
    yield tmp_path / "cache.db"


def test_generate_embed_rerun_then_text_bank(generated: Path, tiny_clip_dir: Path) -> None:
    code, out = run("embed")
    assert code == 0, out
    assert re.search(
        r"sbert:all-MiniLM-L6-v2 \[[0-9a-f]{12}\]: 140 texts, encoded 140 \(0 truncated\)", out
    ), out

    code, out = run("embed", "--json")
    report = json.loads(out)["models"][0]
    assert (report["texts"], report["to_encode"], report["encoded"]) == (140, 0, 0)

    code, out = run(
        "embed",
        "--dry-run",
        "--json",
        "--model",
        "sbert:all-MiniLM-L6-v2",
        "--model",
        f"clip:{tiny_clip_dir}",
    )
    plans = json.loads(out)
    assert plans["dry_run"] is True
    assert [(m["model"].split(":")[0], m["to_encode"]) for m in plans["models"]] == [
        ("sbert", 0),
        ("clip", 140),
    ]

    bank = TextBank.from_cache("cache.db", dataset="msr-action3d")
    assert bank.class_ids == tuple(range(1, 21))
    assert tuple(bank.global_vectors.shape) == (20, 384)
    assert tuple(bank.local_vectors.shape) == (20, 6, 384)
    assert tuple(bank.k_gt.shape) == (20, 20)
    assert bank.provenance["source"] == "server:scripted"
    lay = get_layout("msr20")
    wave = bank.k_gt[bank.rows([1])[0]].numpy()  # "high arm wave"
    assert {lay.joints[i] for i in np.flatnonzero(wave)} == {
        "right shoulder",
        "right elbow",
        "right wrist",
        "right hand",
    }
    assert bank.provenance["uniform_k_gt_classes"] == []


def test_clip_and_hf_options_and_stats_coverage(generated: Path, tiny_clip_dir: Path) -> None:
    from crossglg.embeddings.spec import DEFAULT_MODEL, resolve_model

    minilm_dir = resolve_model(DEFAULT_MODEL).path
    code, out = run(
        "embed",
        "--model",
        f"clip:{tiny_clip_dir}",
        "--long-text",
        "chunk-mean",
        "--store-dtype",
        "f2",
        "--json",
    )
    clip = json.loads(out)["models"][0]
    assert code == 0 and (clip["encoded"], clip["dim"], clip["truncated"]) == (140, 32, 0)
    code, out = run(
        "embed", "--model", f"hf:{minilm_dir}", "--max-tokens", "128", "--batch-size", "16", "--json"
    )
    assert code == 0 and json.loads(out)["models"][0]["encoded"] == 140

    code, out = run("stats", "--json")
    coverage = {row["model"].split(":")[0]: row for row in json.loads(out)["embedding_coverage"]}
    assert set(coverage) == {"clip", "hf"}
    assert coverage["clip"]["classes_covered"] == coverage["clip"]["classes"] == 20
    assert (coverage["hf"]["slots"], coverage["hf"]["embedded"], coverage["hf"]["texts"]) == (6, 140, 140)
    code, out = run("stats")
    assert re.search(
        r"msr-action3d +server:scripted +clip:\S+tiny-clip \[[0-9a-f]{8}\]: 20/20 classes, 6 parts, 140/140 texts",
        out,
    ), out

    bank = TextBank.from_cache(generated, dataset="msr-action3d", embedder=f"clip:{tiny_clip_dir}")
    assert tuple(bank.local_vectors.shape) == (20, 6, 32)
    assert bank.provenance["embedder_config"]["long_text"] == "chunk-mean"


def test_embed_dry_run_writes_nothing_and_filters_datasets(generated: Path) -> None:
    before = generated.read_bytes()
    code, out = run("embed", "--dry-run")
    assert code == 0 and re.search(r"140 texts, would encode 140", out), out
    code, out = run("embed", "--dry-run", "--dataset", "ntu60", "--json")
    assert json.loads(out)["models"][0]["texts"] == 0
    assert generated.read_bytes() == before


def test_embed_user_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from crossglg.cache import open_cache
    from crossglg.errors import UserError

    monkeypatch.chdir(tmp_path)
    open_cache("cache.db").close()
    for args, message in (
        (["--model", "clip:openai/clip-vit-base-patch32"], "not available locally"),
        (["--store-dtype", "f8"], "--store-dtype 'f8': use one of f4, f2"),
        (["--precision", "fp16", "--device", "cpu"], "--precision fp16 needs a CUDA device"),
        (
            ["--device", "bogus"],
            "--device 'bogus': not a device; this machine has ",
        ),  # even with nothing to encode
        (["--cache", "other.db"], "no such cache file"),
    ):
        with pytest.raises(UserError, match=re.escape(message)):
            cli.invoke(app, ["embed", *args], catch_exceptions=False)
    assert not (tmp_path / "other.db").exists()  # embed never creates a cache


def test_user_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "crossglg.text_cli", "embed", "--cache", str(tmp_path / "none.db")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "no such cache file" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
