"""Exact decimal string <-> int64 fixed point at 1e-8 (pure-Python twin of ext/fixedpoint.pyx).

Prices and quantities arrive as plain decimal strings ("87648.21000000"). The fast path of
the project holds them as integers scaled by 10**8. Integer arithmetic only: a float
would round, and a trading record must be exact.
"""

from tradestore._errors import FixedPointError
from tradestore._fixed import INT64_MAX, SCALE, SCALE_DIGITS


def parse_fixed(text: str | bytes) -> int:
    """Return the value of a plain non-negative decimal string times 10**8, exactly.

    Accepts ``digits[.digits]``: no sign, exponent, blanks or other characters. Raises
    FixedPointError when the string is malformed, has more than 8 significant fractional
    digits (trailing zeros beyond the 8th are fine), or the result exceeds int64.
    """
    if isinstance(text, bytes | bytearray | memoryview):
        try:
            text = bytes(text).decode("ascii")
        except UnicodeDecodeError:
            raise FixedPointError("not a plain decimal string") from None
    if not isinstance(text, str):
        raise FixedPointError("not a string")
    int_part, dot, frac_part = text.partition(".")
    if not int_part or not _all_digits(int_part) or (dot and not _all_digits(frac_part)):
        raise FixedPointError(f"not a plain decimal string: {text[:40]!r}")
    if dot and not frac_part:
        raise FixedPointError(f"not a plain decimal string: {text[:40]!r}")
    if len(frac_part) > SCALE_DIGITS:
        extra = frac_part[SCALE_DIGITS:]
        if extra.strip("0"):
            raise FixedPointError(f"more than {SCALE_DIGITS} decimal places: {text[:40]!r}")
        frac_part = frac_part[:SCALE_DIGITS]
    value = int(int_part) * SCALE + int(frac_part.ljust(SCALE_DIGITS, "0"))
    if value > INT64_MAX:
        raise FixedPointError(f"does not fit int64 at 1e-{SCALE_DIGITS}: {text[:40]!r}")
    return value


def _all_digits(s: str) -> bool:
    # str.isdigit() accepts non-ASCII digits such as '²' or Arabic-Indic numerals.
    return s.isascii() and s.isdigit()


def format_fixed(value: int) -> str:
    """The canonical decimal string of a fixed-point value (8 places, as Binance prints)."""
    if value < 0:
        return "-" + format_fixed(-value)
    whole, frac = divmod(value, SCALE)
    return f"{whole}.{frac:08d}"
