"""Hostile protocol TOML files (issue #11): every field checked, the exemplar pattern a strict grammar."""

from __future__ import annotations

import pytest

from crossglg.errors import UserError
from crossglg.vocab.protocols import load_protocol

GOOD = 'name = "p"\nnum_classes = 5\nnovel_classes = [4, 5]\nexemplar_rule = "earliest"\n'


def _load(tmp_path, text: str):
    path = tmp_path / "p.toml"
    path.write_text(text)
    return load_protocol(path)


def test_a_sound_protocol_file_still_loads(tmp_path):
    p = _load(tmp_path, GOOD)
    assert p.base_class_ids == (1, 2, 3) and p.novel_class_ids == (4, 5)
    p = _load(
        tmp_path, 'name = "p"\nnum_classes = 3\nnovel_classes = [3]\nexemplar_pattern = "S{class_id:03d}_x"\n'
    )
    assert p.exemplars == ("S003_x",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'name = "p"\nnum_classes = -3\nnovel_classes = [1]\n',
            "'num_classes' must be an integer in 1..100000",
        ),
        ('name = "p"\nnum_classes = true\nnovel_classes = [1]\n', "'num_classes' must be an integer"),
        ('name = "p"\nnum_classes = 5\nnovel_classes = []\n', "'novel_classes' is empty"),
        ('name = "p"\nnum_classes = 5\nnovel_classes = [9]\n', "novel class 9 is beyond num_classes = 5"),
        (
            'name = "p"\nnum_classes = 5\nnovel_classes = [true]\n',
            "'novel_classes' must be a list of 1-based",
        ),
        ("name = 3\nnum_classes = 5\nnovel_classes = [1]\n", "'name' must be a string"),
        (
            'name = "p\\u001b[31mRED\\u0007"\nnum_classes = 5\nnovel_classes = [1]\n',
            "'name' holds control characters: 'p\\\\x1b\\[31mRED\\\\x07'",
        ),
        (
            'name = "p"\nnum_classes = 5\nnovel_classes = [1]\nexemplars = [1]\n',
            "'exemplars' must be a list of",
        ),
        (
            'name = "p"\nnum_classes = 5\nnovel_classes = [1]\nexemplar_rule = "earliest"\nauxiliary_subsets = 3\n',
            "'auxiliary_subsets' must be class counts",
        ),
        (
            'name = "p"\nnum_classes = 5\nnovel_classes = [1]\nexemplar_rule = "earliest"\n[expected]\nqueries = -1\n',
            "values of \\[expected\\] must be counts",
        ),
    ],
)
def test_bad_protocol_fields_are_refused_by_name(tmp_path, text, message):
    with pytest.raises(UserError, match=message):
        _load(tmp_path, text)


@pytest.mark.parametrize(
    "pattern",
    [
        "A{class_id:099999999d}",  # a 100 MB exemplar name
        "A{class_id:99999999d}",
        "A{class_id.__class__}",  # attribute access
        "A{class_id.real}",
        "A{class_id[0]}",
        "A{class_id!r}",
        "A{other}",
        "A{class_id:>40}",
        "A{0}",
        "no field at all",
    ],
)
def test_exemplar_pattern_is_a_strict_grammar(tmp_path, pattern):
    text = f'name = "p"\nnum_classes = 5\nnovel_classes = [1]\nexemplar_pattern = "{pattern}"\n'
    with pytest.raises(UserError, match="'exemplar_pattern' must hold"):
        _load(tmp_path, text)
