"""`crossglg-text convert-gguf`: the embedded GGUF as a Hugging Face folder that computes what the GGUF computes.

The reference is llama.cpp itself running the GGUF, not transformers' own GGUF loader: a
second implementation catches a wrong tensor mapping, a lost weight tie or a mangled
tokenizer, which a comparison of transformers with itself would not. llama.cpp multiplies
Q4_1 weights with activations quantized to 8 bits, so the logits agree closely, not exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gguf")
llama_cpp = pytest.importorskip("llama_cpp")

TEXT = "A person raises the right hand above the head"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "crossglg.text_cli", "convert-gguf", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> tuple[Path, dict]:
    work = tmp_path_factory.mktemp("convert")
    proc = _cli("smollm2-hf", "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return work / "smollm2-hf", json.loads(proc.stdout)


@pytest.mark.slow
def test_converted_folder_matches_llama_cpp_on_the_gguf(converted):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from crossglg.textgen.backends.llamacpp import embedded_model_path

    out, summary = converted
    assert summary["architecture"] == "llama" and summary["dtype"] == "float32"
    assert 134e6 < summary["parameters"] < 136e6
    config = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in config  # vLLM would look for a GGUF quantizer
    assert config["tie_word_embeddings"] is True
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".smollm2-hf.")]  # no temp left

    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template  # vLLM's chat needs it
    ids = tokenizer(TEXT)["input_ids"]
    llama = llama_cpp.Llama(
        model_path=str(embedded_model_path()), logits_all=True, n_ctx=64, n_threads=1, verbose=False
    )
    assert llama.tokenize(TEXT.encode(), add_bos=False) == ids  # the same tokenizer
    llama.eval(ids)
    reference = np.asarray(llama.scores[: len(ids)])
    with torch.no_grad():
        ours = model(torch.tensor([ids])).logits[0].numpy()
    for position in range(len(ids)):
        r = np.corrcoef(ours[position], reference[position])[0, 1]
        assert r > 0.98, (position, r)  # a wrong mapping or a lost tie gives r well below 0.5
        assert reference[position].argmax() in np.argsort(ours[position])[-5:]
    # the head is the embedding (tied), as in the GGUF
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()


def test_refuses_a_folder_that_has_files_and_leaves_it_alone(tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    proc = _cli(str(out), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {out}: already exists; give a new folder (nothing was written)"
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such GGUF file"),
        (b"<html>not a model</html>", "not a GGUF file (it does not start with 'GGUF')"),
        (b"GGUF\x03\x00\x00\x00truncated", "cannot read as a transformers model"),
    ],
)
def test_bad_sources_end_in_one_line(tmp_path, content, expected):
    src = tmp_path / "model.gguf"
    if content is not None:
        src.write_bytes(content)
    proc = _cli("out", "--llm", str(src), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], proc.stderr
    assert not (tmp_path / "out").exists()
