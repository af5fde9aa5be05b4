"""What a request costs: the shipped price table, the user's overrides, and the arithmetic.

Money is where a plan must not guess (docs/TEXTGEN.md, "Cost"): a model with no price is
reported as unknown, never as $0. Models that run on this machine (llama.cpp, in-process
vLLM) cost no API money and say so. Prices are US dollars per million tokens; the input
count of an answer includes its cached tokens (as OpenAI's ``prompt_tokens`` does) and the
output count includes reasoning tokens (``completion_tokens`` does), so both are priced
from the usage the answer carries.

Layers, later ones winning per model: the table shipped in ``prices.toml``, then
``$XDG_CONFIG_HOME/crossglg/prices.toml`` (default ``~/.config/crossglg/prices.toml``),
then ``--prices FILE``.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomllib

from crossglg.errors import UserError

SHIPPED = Path(__file__).with_name("prices.toml")
FIELDS = ("input", "cached_input", "output", "batch_input", "batch_cached_input", "batch_output")
LOCAL_BACKENDS = ("llamacpp", "vllm")
_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def user_prices_path() -> Path:
    """Where a user's own prices live (documented in docs/TEXTGEN.md)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "crossglg" / "prices.toml"


@dataclass(frozen=True)
class ModelPrice:
    """Dollars per million tokens; ``origin`` says which file the row came from."""

    input: float
    cached_input: float
    output: float
    batch_input: float
    batch_cached_input: float
    batch_output: float
    origin: str = ""

    def cost(self, tokens_input: int, tokens_cached: int, tokens_output: int, batch: bool = False) -> float:
        """Dollars for one call; cached tokens are part of ``tokens_input``."""
        cached = min(max(tokens_cached, 0), max(tokens_input, 0))
        fresh = max(tokens_input, 0) - cached
        if batch:
            rates = (self.batch_input, self.batch_cached_input, self.batch_output)
        else:
            rates = (self.input, self.cached_input, self.output)
        return (fresh * rates[0] + cached * rates[1] + max(tokens_output, 0) * rates[2]) / 1e6


FREE = ModelPrice(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, origin="runs on this machine")


class PriceTable:
    def __init__(self, rows: dict[str, ModelPrice]) -> None:
        self.rows = rows

    def lookup(self, source: str) -> ModelPrice | None:
        """The price of ``backend:model``: its own row, else its undated base model's, else None."""
        if source.split(":", 1)[0] in LOCAL_BACKENDS and source not in self.rows:
            return FREE
        row = self.rows.get(source)
        if row is None and _DATED.search(source):
            row = self.rows.get(_DATED.sub("", source))
        return row


def _rows(path: Path, data: dict[str, Any]) -> dict[str, ModelPrice]:
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise UserError(f'{path}: [models] must be a table of `[models."backend:model"]` rows')
    out = {}
    for name, row in models.items():
        where = f'{path}: [models."{name}"]'
        if ":" not in name:
            raise UserError(f"{where}: name the backend too, e.g. openai:{name} or server:{name}")
        if not isinstance(row, dict):
            raise UserError(f"{where}: must be a table of prices")
        unknown = sorted(set(row) - set(FIELDS))
        if unknown:
            raise UserError(f"{where}: unknown field {unknown[0]!r} (fields: {', '.join(FIELDS)})")
        values = {}
        for field in FIELDS:
            value = row.get(field)
            if value is None and field in ("input", "output"):
                raise UserError(f"{where}: {field} is missing (dollars per million tokens)")
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                raise UserError(
                    f"{where}: {field} must be a number >= 0 (dollars per million tokens), got {value!r}"
                )
            values[field] = value
        values["cached_input"] = (
            values["cached_input"] if values["cached_input"] is not None else values["input"]
        )
        values["batch_input"] = (
            values["batch_input"] if values["batch_input"] is not None else values["input"]
        )
        values["batch_output"] = (
            values["batch_output"] if values["batch_output"] is not None else values["output"]
        )
        if values["batch_cached_input"] is None:
            values["batch_cached_input"] = values["batch_input"]
        out[name] = ModelPrice(**{k: float(v) for k, v in values.items()}, origin=str(path))
    return out


def _read(path: Path) -> dict[str, ModelPrice]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise UserError(f"{path}: cannot read the price file ({err.strerror or err})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not a valid TOML price file ({err})") from None
    return _rows(path, data)


def load_prices(extra: Path | None = None) -> PriceTable:
    """The shipped table, overridden by the user's config file (if any), then by ``extra``."""
    rows = _read(SHIPPED)
    config = user_prices_path()
    if config.is_file():
        rows.update(_read(config))
    if extra is not None:
        if not extra.is_file():
            raise UserError(f"--prices {extra}: no such file")
        rows.update(_read(extra))
    return PriceTable(rows)


def shipped_checked() -> str:
    """The date the shipped table was checked, for messages that quote it."""
    return str(tomllib.loads(SHIPPED.read_text(encoding="utf-8")).get("meta", {}).get("checked", "?"))


def describe_price(source: str, price: ModelPrice | None) -> str:
    """How a dollar figure was made, or why there is none: one clause for the CLI."""
    if price is None:
        return (
            f"price unknown for {source}: add it to {user_prices_path()} or pass --prices FILE "
            "(docs/TEXTGEN.md, Cost)"
        )
    if price is FREE:
        return f"{source} runs on this machine: no API cost"
    if price.origin == str(SHIPPED):
        return f"{source} list prices checked {shipped_checked()}"
    return f"{source} prices from {price.origin}"
