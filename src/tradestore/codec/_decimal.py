"""Decimal text as exchanges send it: what the project accepts as a price or quantity.

Frames, REST rows and CSV files all carry prices and quantities as strings; only plain
positional decimals are taken, so that ``Decimal(text)`` gives back the exact text and
the fixed-point parser of the compiled modules reads the same strings.
"""

from __future__ import annotations

# Longer strings are refused; the compiled parser's buffers are sized from this bound.
MAX_DECIMAL_CHARS = 40


def is_plain_decimal(text: str) -> bool:
    """digits[.digits], ASCII only, at most MAX_DECIMAL_CHARS: no sign, exponent or blanks."""
    if not text or len(text) > MAX_DECIMAL_CHARS or not text.isascii():
        return False
    int_part, dot, frac_part = text.partition(".")
    if not int_part.isdigit():
        return False
    return not dot or frac_part.isdigit()
