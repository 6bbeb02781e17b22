"""The translate tables give, for every code point, exactly what their per-character rule gives."""

from __future__ import annotations

import pytest

from service.core.text import normalize

EVERY_BMP = range(0x10000)
# Astral code points are answered by the rule each time and never kept.
ASTRAL = [*range(0x10000, 0x10100), *range(0x1F000, 0x1FB00), *range(0xE0000, 0xE0200), 0x10FFFF]


@pytest.mark.parametrize(
    ("table", "rule"),
    [(normalize._CANON_TABLE, normalize._canon_char), (normalize._EMOJI_TABLE, normalize._emoji_to_space)],
    ids=["canonical", "emoji"],
)
def test_every_code_point_translates_as_its_rule_says(table: normalize._CharTable, rule: object) -> None:
    for cp in (*EVERY_BMP, *ASTRAL):
        if 0xD800 <= cp <= 0xDFFF:
            continue  # lone surrogates cannot be in decoded text
        ch = chr(cp)
        assert ch.translate(table) == rule(ch), hex(cp)  # type: ignore[operator]
    assert not any(cp >= 0x10000 for cp in table), "astral code points must not be kept"
    assert len(table) <= 0x10000
