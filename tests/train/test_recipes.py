"""Recipes are config files with inheritance (``extends``); each resolves as it did as an argv list.

``resolved_recipes.json`` holds the resolved configuration of every recipe as the code built it
before the recipes became files (the shipped configs, the demo's two trainings at both sizes, and
every condition of bench/oneshot_eval.py), captured from that code with the same arguments. A
recipe file that drifts from it changes results, and fails here. A condition added later is
captured from the ``--add-condition`` flags its runs were trained with (``base-depth2``, ``base-depth3``,
``dep3-pack`` and its control: ``--config bench/recipes/corrected.toml --set model.encoder.depth=3
--set model.jid.n_pre=2``; ``stgcn-depth3``, ``stg3-pack`` and its control). The shipped ``cpu-stgcn3`` is captured from ``--config
cpu-small --encoder stgcn --set model.encoder.depth=3``, the flags its measured runs had.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

from bench.oneshot_eval import CONDITIONS, RECIPE
from crossglg.cli import app
from crossglg.demo import FULL, QUICK, train_args
from crossglg.errors import UserError
from crossglg.train.config import BUILTIN_DIR, load_config, read_config_file, shipped_configs

BEFORE = json.loads((Path(__file__).with_name("resolved_recipes.json")).read_text())


def resolved(argv: list[str]) -> dict:
    """What `crossglg train ARGV` would train with, as the command itself prints it."""
    result = CliRunner().invoke(app, [*argv, "--print-config", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize("name", ["cpu-small", "cpu-small-legacy", "cpu-msr", "cpu-stgcn3", "paper"])
def test_shipped_configs_resolve_as_before(name):
    assert load_config(name, {}).to_dict() == BEFORE[f"config:{name}"]
    assert resolved(["train", "--config", name]) == BEFORE[f"config:{name}"]


@pytest.mark.parametrize("label,size", [("demo", FULL), ("demo-quick", QUICK)])
@pytest.mark.parametrize("run", ["base", "crossglg"])
def test_the_demo_trains_with_the_recipe_it_had(label, size, run):
    protocol = "protocol.toml" if size.base else "synthetic"
    assert resolved(train_args(size, protocol, run)) == BEFORE[f"{label}:{run}"]


@pytest.mark.parametrize("cond", sorted(CONDITIONS))
def test_every_results_runner_condition_trains_with_the_recipe_it_had(cond):
    argv = ["train", "--data", "prepared/msr", "--protocol", "msr-action3d", *RECIPE]
    argv += [*CONDITIONS[cond].train_args(), "--seed", "1", "--out", "runs/x"]
    assert resolved(argv) == BEFORE[f"oneshot:{cond}"]


def _flat(table: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in table.items():
        out.update(_flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out


@pytest.mark.parametrize("name,parent", [("cpu-small-legacy", "cpu-small"), ("cpu-msr", "cpu-small"),
                                         ("cpu-stgcn3", "cpu-small"), ("demo-quick", "demo")])  # fmt: skip
def test_a_recipe_states_only_what_it_changes(name, parent):
    own = tomllib.loads((BUILTIN_DIR / f"{name}.toml").read_text())
    assert own.pop("extends") == parent
    inherited = _flat(read_config_file(parent))
    restated = {k for k, v in _flat(own).items() if inherited.get(k, object()) == v}
    assert not restated, f"{name} restates {parent}'s {sorted(restated)}"


def test_overrides_merge_tables_key_by_key(tmp_path):
    child = tmp_path / "child.toml"
    child.write_text('extends = "cpu-small"\nepochs = 3\n[model.encoder]\nhead = "cosine"\n')
    cfg = load_config(child, {}, ["model.encoder.base_channels=8"])
    assert cfg.epochs == 3 and cfg.lr == 0.05  # the parent's lr, the child's epochs
    assert cfg.model["encoder"] == {"base_channels": 8, "info_bottleneck": False, "head": "cosine"}
    grandchild = tmp_path / "deeper" / "g.toml"
    grandchild.parent.mkdir()
    grandchild.write_text('extends = "../child.toml"\nframes = 8\n')
    cfg = load_config(grandchild, {"epochs": 5})  # an explicit option still wins over every file
    assert (cfg.epochs, cfg.frames, cfg.model["encoder"]["head"]) == (5, 8, "cosine")


@pytest.mark.parametrize(
    "files,message",
    [
        ({"a.toml": 'extends = "b.toml"\n', "b.toml": 'extends = "a.toml"\n'}, r"b\.toml: extends itself through a\.toml -> b\.toml -> a\.toml"),
        ({"a.toml": 'extends = "a.toml"\n'}, r"a\.toml: extends itself through a\.toml -> a\.toml"),
        ({"a.toml": 'extends = "nope"\n'}, r"a\.toml: extends 'nope', which is neither a file beside it nor a shipped config \(cpu-msr"),
        ({"a.toml": 'extends = "b.toml"\n', "b.toml": "epoch = 3\n"}, r"b\.toml: unknown key 'epoch'"),
        ({"a.toml": "extends = 3\n"}, r"a\.toml: extends must be a config name or file, got 3"),
        ({"a.toml": 'extends = "b.toml"\n', "b.toml": "epochs = \n"}, r"b\.toml: .*line 1"),
    ],
)  # fmt: skip
def test_bad_inheritance_is_one_line_naming_the_file(tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(UserError, match=message) as err:
        load_config(tmp_path / "a.toml", {})
    assert "\n" not in str(err.value)
    result = CliRunner().invoke(app, ["train", "--config", str(tmp_path / "a.toml"), "--print-config"])
    assert result.exit_code != 0


def test_shipped_recipes_are_listed():
    assert {"cpu-small", "cpu-small-legacy", "cpu-msr", "cpu-stgcn3", "paper", "demo", "demo-quick"} <= set(
        shipped_configs()
    )


def test_print_config_checks_values_and_needs_no_data():
    result = CliRunner().invoke(app, ["train", "--config", "demo", "--set", "epochs=0", "--print-config"])
    assert result.exit_code != 0
    text = CliRunner().invoke(app, ["train", "--config", "demo-quick", "--print-config"]).output
    assert "epochs = 2\n" in text and "lr = 0.025\n" in text
