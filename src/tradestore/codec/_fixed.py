"""Fixed point at 1e-8: the scale and int64 bounds of every fast-path price and quantity.

Prices and quantities are exact decimals; the fast path holds them as int64 counts of
1e-8 units (``TradeColumns.price``, the profile's levels). This module is the one home
of those numbers on the Python side; ``src/tradestore/codec/_ext/_fixed.pxd`` declares the same ones for the
compiled modules, which refuse to import if the two disagree.
"""

from __future__ import annotations

from decimal import Decimal

from tradestore._errors import FixedPointError

SCALE_DIGITS = 8
SCALE = 10**SCALE_DIGITS
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_INT64_DIGITS = len(str(INT64_MAX))


def decimal_to_fixed(value: Decimal, what: str = "value") -> int:
    """The exact int64 count of 1e-8 units in ``value``, or FixedPointError saying why not.

    Works on the digit tuple, trimmed first, so neither a huge exponent ('1E+999999999')
    nor thousands of digits costs more than a glance. ``what`` names the value in the
    message.
    """
    sign, digits, exponent = value.as_tuple()
    if sign or not isinstance(exponent, int):
        raise FixedPointError(f"{what} {value} is not a non-negative finite decimal")
    first = next((i for i, d in enumerate(digits) if d), len(digits))
    digits = digits[first:]
    while digits and digits[-1] == 0:  # trailing zeros only scale the exponent
        digits = digits[:-1]
        exponent += 1
    if not digits:
        return 0
    shift = exponent + SCALE_DIGITS  # the value is int(digits) * 10**shift units
    if shift < 0:
        raise FixedPointError(f"{what} {value} has more than {SCALE_DIGITS} decimal places")
    if len(digits) + shift > _INT64_DIGITS:  # at least 10**19 units
        raise FixedPointError(f"{what} {value} does not fit int64 at 1e-{SCALE_DIGITS}")
    fixed: int = int("".join(map(str, digits))) * 10**shift
    if fixed > INT64_MAX:
        raise FixedPointError(f"{what} {value} does not fit int64 at 1e-{SCALE_DIGITS}")
    return fixed


def format_fixed(units: int) -> str:
    """A non-negative count of 1e-8 units as the exchange writes it: always 8 decimals."""
    whole, frac = divmod(units, SCALE)
    return f"{whole}.{frac:0{SCALE_DIGITS}d}"
