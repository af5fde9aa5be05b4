"""A model too large to build is the user's setting, not a bug: one line, before any training."""

from __future__ import annotations

import pytest

from crossglg.errors import UserError
from crossglg.models import model as model_module
from crossglg.models.config import MAX_CLASSES, ModelConfig
from crossglg.models.model import build_model


def _failing(message: str):
    """A CrossGLG constructor that fails the way torch's allocator does (without allocating anything)."""

    def build(*args, **kwargs):
        raise RuntimeError(message)

    return build


def test_an_allocation_failure_while_building_is_one_line_naming_the_size(monkeypatch):
    cpu = (
        "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
        "you tried to allocate 1073741824000 bytes. Error code 12 (Cannot allocate memory)"
    )
    monkeypatch.setattr(model_module, "CrossGLG", _failing(cpu))
    with pytest.raises(UserError) as err:
        build_model("stgcn", "ntu25", 10)
    assert str(err.value).startswith(
        "stgcn with 10 classes does not fit in memory (1,000.0 GiB for one layer)"
    )


def test_any_other_error_while_building_is_still_a_bug(monkeypatch):
    monkeypatch.setattr(model_module, "CrossGLG", _failing("mat1 and mat2 shapes cannot be multiplied"))
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        build_model("stgcn", "ntu25", 10)


def test_a_class_count_past_the_limit_is_refused():
    with pytest.raises(UserError, match=f"num_classes must be >= 1 and <= {MAX_CLASSES}"):
        build_model("stgcn", "ntu25", MAX_CLASSES + 1)


@pytest.mark.parametrize(
    ("table", "key"),
    [({"jid": {"hidden_mult": 10**11}}, "jid.hidden_mult"), ({"l2g": {"text_dim": 10**11}}, "l2g.text_dim")],
)
def test_a_width_past_the_limit_is_named_by_its_key(table, key):
    with pytest.raises(UserError, match=f"^model config: {key} must be >= 1 and <= "):
        ModelConfig.from_dict(table)
