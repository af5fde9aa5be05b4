"""`--data PREPARED`: texts take the prepared folder's dataset name and classes; mismatches are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crossglg.cli import app as crossglg_app
from crossglg.errors import UserError
from crossglg.text_cli import app as text_app
from crossglg.textgen.plan import select_classes

from .conftest import invoke


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("own") / "prepared"
    args = ["data", "synth", "--out", str(out), "--per-class", "2", "--classes", "1,2,3", "--seed", "0"]
    result = CliRunner().invoke(crossglg_app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def test_selection_comes_from_the_prepared_folder(prepared):
    chosen = select_classes(data=prepared, class_ids=[2])
    assert chosen.dataset == "synthetic" and [(c.class_id, c.name) for c in chosen.classes] == [
        (2, "wave left hand")
    ]
    with pytest.raises(UserError, match="names the dataset and its classes; drop --dataset"):
        select_classes("ntu60", data=prepared)
    with pytest.raises(UserError, match="not a prepared dataset"):
        select_classes(data=prepared.parent / "nothing")


def test_import_rows_must_match_the_prepared_classes(prepared, tmp_path):
    cache = tmp_path / "cache.db"

    def attempt(row: dict) -> tuple[int, str]:
        path = tmp_path / "rows.jsonl"
        path.write_text(json.dumps(row) + "\n")
        result = CliRunner().invoke(
            text_app,
            ["import", str(path), "--label", "mine", "--data", str(prepared), "--cache", str(cache)],
        )
        return result.exit_code, str(result.exception or "")

    text = "The right hand waves side to side above the head."
    code, err = attempt({"dataset": "generic", "class_id": 1, "text": text})
    assert code != 0 and "dataset 'generic', but the prepared data is 'synthetic'" in err
    code, err = attempt({"dataset": "synthetic", "class_id": 41, "text": text})
    assert code != 0 and "class_id 41 is not a class of the prepared data (1–40)" in err
    code, err = attempt({"dataset": "synthetic", "class_id": 1, "class_name": "jump", "text": text})
    assert code != 0 and "contradicts the synthetic class list" in err
    assert not cache.exists()  # nothing stored before the whole file passed
    code, _ = attempt({"dataset": "synthetic", "class_id": 1, "text": text})  # class_name filled in
    assert code == 0
    code, out = invoke("show", "--cache", cache, "-d", "synthetic", "-c", "1", "--json")
    assert json.loads(out)[0]["class_name"] == "wave right hand"
