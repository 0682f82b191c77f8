"""The page's text colours meet WCAG 2.1 AA contrast (4.5:1 for body text) on the backgrounds the
stylesheet puts them on; the colours are read from style.css, so a change there is checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

STYLE = Path(__file__).resolve().parents[1] / "src/nkescape/web/static/style.css"
AA_TEXT = 4.5  # WCAG 2.1, success criterion 1.4.3, text under 18 pt


def _variables() -> dict[str, str]:
    text = STYLE.read_text(encoding="utf-8")
    return dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6}|#[0-9a-fA-F]{3})\b", text))


def _luminance(colour: str) -> float:
    hex_ = colour.lstrip("#")
    if len(hex_) == 3:
        hex_ = "".join(c * 2 for c in hex_)
    channels = [int(hex_[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_formula_matches_wcags_examples() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


# Text colour on background, as style.css pairs them (a name is a --variable, else a colour):
# body and muted text on the page and the cards, links and errors on cards, white on the accent
# buttons, muted text in a chosen itinerary's row and in the warning box, the badges.
PAIRS = [
    ("text", "bg"),
    ("text", "card"),
    ("muted", "bg"),
    ("muted", "card"),
    ("accent", "card"),
    ("accent", "bg"),
    ("error", "card"),
    ("error", "warning-bg"),
    ("text", "warning-bg"),
    ("#ffffff", "accent"),
    ("muted", "#cfe3f7"),
    ("text", "#cfe3f7"),
    ("#0b5a2e", "#dff3e7"),
    ("#3d3d3d", "#ececec"),
]


@pytest.mark.parametrize(("fg", "bg"), PAIRS)
def test_text_meets_wcag_aa(fg: str, bg: str) -> None:
    names = _variables()

    def colour(name: str) -> str:
        return name if name.startswith("#") else names[name]

    ratio = contrast(colour(fg), colour(bg))
    assert ratio >= AA_TEXT, f"{fg} on {bg}: {ratio:.2f}:1, below {AA_TEXT}:1"
