"""The plug-in registries (crossglg/registry.py) and plug-ins from a real installed distribution.

A distribution here is what ``pip install`` leaves behind: a package folder and a
``*.dist-info`` folder with ``METADATA`` and ``entry_points.txt``, on the path, where
``importlib.metadata`` finds it like any other (docs/PLUGINS.md).
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crossglg.cli import app
from crossglg.errors import UserError
from crossglg.registry import Registry
from crossglg.vocab.protocols import get_protocol
from tests.helpers import run_script

GROUP = "crossglg.test-widgets"  # a group no real registry reads
_serial = itertools.count()


def install_distribution(site: Path, files: dict[str, str], entry_points: dict[str, dict[str, str]]) -> str:
    """Write a package (``files`` relative to it) and its dist-info into ``site``; return its import name."""
    package = f"toy_crossglg_plugin_{next(_serial)}"
    for relative, text in {"__init__.py": "", **files}.items():
        path = site / package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).replace("PKG", package), encoding="utf-8")
    info = site / f"{package}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n", encoding="utf-8"
    )
    sections = [
        f"[{group}]\n"
        + "".join(f"{name} = {value.replace('PKG', package)}\n" for name, value in entries.items())
        for group, entries in entry_points.items()
    ]
    (info / "entry_points.txt").write_text("\n".join(sections), encoding="utf-8")
    return package


def widgets() -> Registry[type]:
    registry: Registry[type] = Registry(
        "widget", GROUP, check=lambda o: None if isinstance(o, type) else "not a class"
    )

    @registry.register("plain")
    class Plain:
        pass

    @registry.register("fancy")
    class Fancy:
        pass

    return registry


def test_names_come_from_what_was_registered():
    registry = widgets()
    assert registry.names() == ["plain", "fancy"]
    assert registry.get("fancy").__name__ == "Fancy"
    assert "plain" in registry and "other" not in registry


def test_a_name_is_registered_once():
    registry = widgets()
    with pytest.raises(UserError, match=r"^widget 'plain' is registered twice \("):
        registry.register("plain")(object)
    assert registry.get("plain").__name__ == "Plain"  # the first stays


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UserError) as err:
        widgets().get("fanci")
    assert str(err.value) == "unknown widget 'fanci'; known: plain, fancy"


def test_entry_points_are_listed_without_import_and_loaded_on_lookup(tmp_path: Path, monkeypatch):
    package = install_distribution(
        tmp_path,
        {"widget.py": "class Toy:\n    pass\n"},
        {GROUP: {"toy": "PKG.widget:Toy"}},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = widgets()
    assert registry.names() == ["plain", "fancy", "toy"]
    assert registry.get("plain").__name__ == "Plain"
    assert f"{package}.widget" not in sys.modules  # neither listing nor a built-in name imports it
    toy = registry.get("toy")
    assert toy.__module__ == f"{package}.widget" and registry.names() == ["plain", "fancy", "toy"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("PKG.absent:Thing", r"cannot be loaded \(ModuleNotFoundError: No module named '\w+\.absent'\)$"),
        ("PKG.widget:Absent", r"cannot be loaded \(AttributeError: .*Absent.*\)$"),
        ("PKG.widget:broken", r": not a class$"),
        ("PKG.boom:Toy", r"cannot be loaded \(RuntimeError: the plug-in's own bug\)$"),
        ("PKG.widget:Toy", r": the widget name 'plain' is already taken$"),
    ],
)
def test_a_bad_entry_point_is_one_line_naming_it(tmp_path: Path, monkeypatch, value: str, problem: str):
    name = "plain" if "taken" in problem else "bad"
    package = install_distribution(
        tmp_path,
        {
            "widget.py": "class Toy:\n    pass\n\nbroken = 42\n",
            "boom.py": 'raise RuntimeError("the plug-in\'s own bug\\nsecond line")\n',
        },
        {GROUP: {name: value}},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = widgets()
    assert registry.get("plain").__name__ == "Plain"  # built-in names never load plug-ins
    with pytest.raises(UserError) as err:
        registry.get("anything-not-built-in")
    message = str(err.value)
    where = f"plug-in entry point {name} = {value.replace('PKG', package)} in group {GROUP} (distribution {package} 0.1)"
    assert message.startswith(where) and "\n" not in message
    assert re.search(problem, message), message


def test_the_project_registries_list_their_built_ins_without_heavy_imports():
    """Listing every registry's names (what --help does) imports no model library; the order is
    the registry's own, whichever built-in module happened to be imported first."""
    script = """
import json, sys
import crossglg.models.ctrgcn, crossglg.data.readers.generic, crossglg.data.readers.pyskl_pkl
from crossglg.vocab.protocols import PROTOCOLS
from crossglg.data.readers import READERS
from crossglg.embeddings.kinds import EMBEDDERS
from crossglg.models.registry import ENCODERS
from crossglg.textgen.llm_backends import LLM_BACKENDS
names = {r.group: r.names() for r in (ENCODERS, EMBEDDERS, LLM_BACKENDS, READERS, PROTOCOLS)}
heavy = ("vllm", "llama_cpp", "open_clip", "transformers", "sentence_transformers", "openai")
print(json.dumps({"names": names, "imported": [m for m in heavy if m in sys.modules]}))
"""
    out = json.loads(
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    )
    assert out["imported"] == []
    names = out["names"]
    assert names["crossglg.encoders"] == ["infogcn", "stgcn", "ctrgcn"]
    assert names["crossglg.embedders"] == ["sbert", "clip", "hf"]
    assert names["crossglg.llm_backends"] == ["local", "openai", "server", "vllm"]
    assert names["crossglg.readers"] == [
        "ntu-skeleton", "ctrgcn-npz", "pyskl-pkl", "pku-mmd", "msr-action3d", "utkinect", "generic"
    ]  # fmt: skip
    assert {"msr-action3d", "ntu60-aux10", "ntu120", "utkinect-all10"} <= set(names["crossglg.protocols"])


def test_the_text_apps_help_lists_backends_and_kinds_without_numpy():
    """``crossglg-text --help`` builds every command's help, the embedder kinds included, on Typer alone."""
    script = (
        "import sys, typer.main\n"
        "from crossglg.text_cli import app\n"
        "typer.main.get_command(app)\n"
        "print(sorted(m for m in ('numpy', 'torch', 'openai', 'sqlite_utils') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# --- a third-party distribution seen by the console scripts ---------------------------------

PLUGIN_FILES = {
    "encoder.py": '''
        from crossglg.models.stgcn import STGCN


        class ToyEncoder(STGCN):
            """ST-GCN under another name."""
    ''',
    "reader.py": '''
        """MSR Action3D read by the built-in functions, under another format name."""
        from crossglg.data.readers.msr_action3d import read_unit, scan
    ''',
    "protocol.py": """
        from pathlib import Path

        from crossglg.vocab.protocols import read_protocol_file

        PROTOCOL = read_protocol_file(Path(__file__).with_name("toy.toml"))
    """,
    "toy.toml": """
        name = "toy-msr-split"
        dataset = "msr-action3d"
        num_classes = 20
        novel_classes = [16, 17, 18, 19, 20]
        exemplar_pattern = "a{class_id:02d}_s01_e01"
        exclude_samples = ["a13_s09_e02"]
        auxiliary_subsets = [5]
    """,
    "llm.py": """
        from crossglg.textgen.backends.openai_api import OpenAIBackend


        def make(choice):
            return OpenAIBackend(choice.llm, base_url="http://127.0.0.1:9/v1", json_mode="prompt")
    """,
    "embedder.py": """
        from crossglg.embeddings.encoders import HfMeanEncoder


        class ToyEmbedder(HfMeanEncoder):
            pass
    """,
}
PLUGIN_ENTRY_POINTS = {
    "crossglg.encoders": {"toy-stgcn": "PKG.encoder:ToyEncoder"},
    "crossglg.readers": {"toy-msr": "PKG.reader"},
    "crossglg.protocols": {"toy-msr-split": "PKG.protocol:PROTOCOL"},
    "crossglg.embedders": {"toy-hf": "PKG.embedder:ToyEmbedder"},
    "crossglg.llm_backends": {"broken": "PKG.no_such_module:factory", "toy-llm": "PKG.llm:make"},
}


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a user who has pip-installed the toy plug-in distribution."""
    site = tmp_path_factory.mktemp("site")
    install_distribution(site, PLUGIN_FILES, PLUGIN_ENTRY_POINTS)
    repo = Path(__file__).resolve().parents[1]
    return {"PYTHONPATH": f"{site}:{repo}", "COLUMNS": "300"}


def test_help_texts_list_plugins_without_importing_them(plugin_env: dict[str, str]):
    for script, args, word in [
        ("crossglg", ["model-info", "--help"], "toy-stgcn"),
        ("crossglg", ["train", "--help"], "toy-stgcn"),
        ("crossglg", ["data", "prepare", "--help"], "toy-msr"),
        ("crossglg-text", ["embed", "--help"], "toy-hf"),
        ("crossglg-text", ["generate", "--help"], "broken"),  # listed; only a lookup would import it
    ]:
        result = run_script(script, *args, env=plugin_env, timeout=120)
        assert result.returncode == 0, result.stderr
        assert word in result.stdout, (args, result.stdout)


def test_a_plugin_encoder_is_built_by_name(plugin_env: dict[str, str]):
    args = ["model-info", "--layout", "msr20", "--frames", "8", "--json", "--encoder"]
    result = run_script("crossglg", *args, "toy-stgcn", env=plugin_env, timeout=300)
    assert result.returncode == 0, result.stderr
    (toy,) = json.loads(result.stdout)
    (stgcn,) = json.loads(CliRunner().invoke(app, [*args, "stgcn"]).stdout)
    assert toy["encoder"] == "toy-stgcn"
    assert toy["base_params"] == stgcn["base_params"] and toy["crossglg_params"] == stgcn["crossglg_params"]


def test_a_plugin_reader_and_protocol_prepare_and_split_real_data(
    plugin_env: dict[str, str], real_data, tmp_path: Path
):
    out = tmp_path / "prepared"
    prepare = ["data", "prepare", real_data("msr_action3d"), "--format", "toy-msr", "--out", out]
    result = run_script("crossglg", *prepare, "--workers", "2", "--json", env=plugin_env, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["format"] == "toy-msr" and report["samples"] == 566  # 567 files, one all-zero
    result = run_script(
        "crossglg", "data", "split", out, "--protocol", "toy-msr-split", "--json", env=plugin_env
    )
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)
    builtin = get_protocol("msr-action3d").expected  # the same samples, split at class 16 instead of 11
    assert counts["protocol"] == "toy-msr-split" and counts["exemplars"] == 5
    assert counts["auxiliary"] + counts["exemplars"] + counts["queries"] == sum(builtin.values())
    assert counts["auxiliary"] > builtin["auxiliary"]
    # a variant the plug-in's protocol registers when loaded: its first 5 auxiliary classes
    result = run_script(
        "crossglg", "data", "split", out, "--protocol", "toy-msr-split-aux5", "--json", env=plugin_env
    )
    assert result.returncode == 0, result.stderr
    variant = json.loads(result.stdout)
    assert variant["protocol"] == "toy-msr-split-aux5" and variant["exemplars"] == counts["exemplars"]
    assert 0 < variant["auxiliary"] < counts["auxiliary"] and variant["queries"] == counts["queries"]


def test_a_broken_plugin_fails_in_one_line_only_when_asked_for(plugin_env: dict[str, str], tmp_path: Path):
    generate = [
        "generate",
        "--dataset",
        "msr-action3d",
        "--class",
        "1",
        "--dry-run",
        "--cache",
        tmp_path / "c.db",
    ]
    result = run_script("crossglg-text", *generate, "--backend", "broken", env=plugin_env, timeout=120)
    assert result.returncode == 2, result.stdout
    assert result.stderr.startswith("error: plug-in entry point broken = toy_crossglg_plugin_")
    assert "ModuleNotFoundError" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    # neither the built-in backends nor the group's working plug-in load the broken one
    result = run_script("crossglg-text", *generate, "--backend", "auto", env=plugin_env, timeout=120)
    assert result.returncode == 0, result.stderr
    toy = [*generate, "--backend", "toy-llm", "--llm", "m", "--json"]
    result = run_script("crossglg-text", *toy, env=plugin_env, timeout=120)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["source"] == "server:m" and plan["planned"] == 2 and plan["dry_run"] is True
