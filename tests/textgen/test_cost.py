"""Cost: the price table and its overrides, dry-run dollars, the cost of every answer, `stats` sums."""

from __future__ import annotations

import json
import sqlite3

import pytest

from crossglg.errors import UserError
from crossglg.textgen.prices import FREE, SHIPPED, load_prices

from .conftest import gen_args, invoke, run_cli

SCRIPTED_PRICES = """
[models."server:scripted"]
input = 3.0
cached_input = 1.0
output = 12.0
"""


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def test_shipped_table_is_dated_sourced_and_priced_per_million_tokens():
    text = SHIPPED.read_text()
    assert "https://platform.openai.com/docs/pricing" in text and 'checked = "' in text
    table = load_prices()
    gpt4o = table.lookup("openai:gpt-4o")
    assert (gpt4o.input, gpt4o.cached_input, gpt4o.output, gpt4o.batch_input, gpt4o.batch_output) == (
        2.5, 1.25, 10.0, 1.25, 5.0,
    )  # fmt: skip
    # 1000 input tokens of which 400 cached, 500 output (reasoning included), live and batch
    assert gpt4o.cost(1000, 400, 500) == pytest.approx((600 * 2.5 + 400 * 1.25 + 500 * 10.0) / 1e6)
    assert gpt4o.cost(1000, 400, 500, batch=True) == pytest.approx(
        (600 * 1.25 + 400 * 0.625 + 500 * 5.0) / 1e6
    )
    assert table.lookup("openai:gpt-4o-2024-08-06") is gpt4o  # a dated snapshot: its base model
    assert table.lookup("openai:gpt-4o-2024-05-13").input == 5.0  # unless it has a row of its own
    assert table.lookup("server:my-model") is None  # unknown: never a fake 0
    assert table.lookup("llamacpp:SmolLM2") is FREE and table.lookup("vllm:Qwen/Qwen2.5-7B-Instruct") is FREE


def test_user_config_then_prices_file_override_the_shipped_rows(tmp_path):
    config = tmp_path / "config" / "crossglg" / "prices.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[models."openai:gpt-4o"]\ninput = 1.0\noutput = 2.0\n')
    assert load_prices().lookup("openai:gpt-4o").input == 1.0
    assert load_prices().lookup("openai:gpt-4o").batch_output == 2.0  # no batch price given: the live one
    extra = tmp_path / "mine.toml"
    extra.write_text('[models."openai:gpt-4o"]\ninput = 7.0\noutput = 8.0\n')
    assert load_prices(extra).lookup("openai:gpt-4o").input == 7.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[models.gpt]\ninput = 1\noutput = 1\n", "name the backend too"),
        ('[models."openai:x"]\ninput = -1\noutput = 1\n', "input must be a number >= 0"),
        ('[models."openai:x"]\ninput = 1\n', "output is missing"),
        ('[models."openai:x"]\ninput = 1\noutput = 1\nprice = 2\n', "unknown field 'price'"),
        ("[models\n", "not a valid TOML price file"),
    ],
)
def test_a_bad_price_file_is_a_one_line_error_naming_it(tmp_path, content, message):
    path = tmp_path / "prices.toml"
    path.write_text(content)
    with pytest.raises(UserError, match=message) as info:
        load_prices(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_dry_run_prints_dollars_or_says_the_price_is_unknown(tmp_path):
    cache = tmp_path / "cache.db"
    code, out = invoke(
        "generate", "--llm", "gpt-4o", "-d", "msr-action3d", "--dry-run", "--json", "--cache", cache
    )
    report = json.loads(out)
    tokens = report["estimated_tokens"]
    assert report["estimated_cost_usd"] == pytest.approx(
        (tokens["input"] * 2.5 + tokens["output"] * 10.0) / 1e6, abs=1e-6
    )
    code, out = invoke(
        "generate",
        "--llm",
        "gpt-4o",
        "-d",
        "msr-action3d",
        "--dry-run",
        "--batch",
        "--json",
        "--cache",
        cache,
    )
    assert json.loads(out)["estimated_cost_usd"] == pytest.approx(report["estimated_cost_usd"] / 2, abs=1e-6)
    code, out = invoke("generate", "--llm", "gpt-4o", "-d", "msr-action3d", "--dry-run", "--cache", cache)
    assert code == 0 and ", ~$0.0" in out and "list prices checked" in out
    code, out = invoke("generate", "--llm", "mine", "--base-url", "http://127.0.0.1:1/v1", "-d", "msr-action3d", "--dry-run", "--cache", cache)  # fmt: skip
    assert code == 0 and "$" not in out.splitlines()[0] and "price unknown for server:mine" in out
    assert not cache.exists()


def test_every_answer_stores_its_cost_and_stats_sums_it_per_run_and_model(tmp_path, server):
    cache = tmp_path / "cache.db"
    prices = tmp_path / "prices.toml"
    prices.write_text(SCRIPTED_PRICES)
    code, out = invoke(
        *gen_args(server, cache, "-d", "msr-action3d", "-c", "1", "-c", "2", "--prices", prices)
    )
    assert code == 0 and ", $0.0" in out
    code, _ = invoke(*gen_args(server, cache, "-d", "msr-action3d", "-c", "3", "--prices", prices))
    assert code == 0
    code, _ = invoke(*gen_args(server, cache, "-d", "msr-action3d", "-c", "4"))  # no price known
    conn = sqlite3.connect(cache)
    rows = conn.execute(
        "SELECT run_id, tokens_input, tokens_cached, tokens_output, cost_usd FROM generations"
    ).fetchall()
    runs = dict(conn.execute("SELECT run_id, cost_usd FROM runs").fetchall())
    conn.close()
    priced = [r for r in rows if r[4] is not None]
    assert len(priced) == 6 and len(rows) == 8  # the last run's 2 answers have no price: NULL, not 0
    for _, tin, cached, tout, cost in priced:
        assert tin > 0 and tout > 0
        assert cost == pytest.approx(((tin - cached) * 3.0 + cached * 1.0 + tout * 12.0) / 1e6)
    code, out = invoke("stats", "--cache", cache, "--json")
    info = json.loads(out)["cost"]
    total = sum(r[4] for r in priced)
    assert info["total_usd"] == pytest.approx(total) and info["unpriced_answers"] == 2
    (model,) = info["by_model"]
    assert model["source"] == "server:scripted" and (model["answers"], model["priced"]) == (8, 6)
    by_run = {r["run_id"]: r for r in info["by_run"]}
    assert len(by_run) == 3
    for run_id, row in by_run.items():
        assert row["cost_usd"] == pytest.approx(sum(r[4] or 0 for r in rows if r[0] == run_id))
        assert runs[run_id] == pytest.approx(row["cost_usd"])  # the run row holds the same sum
    code, out = invoke("stats", "--cache", cache)
    assert f"cost: ${total:.4f} (+2 answers with no known price)" in out
    assert "price unknown" in out  # the unpriced run's line


def test_a_wrong_prices_path_is_refused_before_anything_is_sent(tmp_path, server):
    proc = run_cli(*gen_args(server, tmp_path / "cache.db", "-d", "msr-action3d", "-c", "1", "--prices", tmp_path / "nope.toml"), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2 and "--prices" in proc.stderr and "no such file" in proc.stderr
    assert server.total == 0 and not (tmp_path / "cache.db").exists()
