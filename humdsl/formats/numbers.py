"""Regular expressions for bounded numbers, so a grammar can keep a value inside its range."""
from __future__ import annotations

import math


def _digits_range(lo: str, hi: str) -> list[str]:
    """Regexes for the digit strings of equal length between lo and hi (inclusive)."""
    if lo == hi:
        return [lo]
    if len(lo) == 1:
        return [f"[{lo}-{hi}]"]
    if lo[0] == hi[0]:
        return [lo[0] + r for r in _digits_range(lo[1:], hi[1:])]
    out = []
    rest = len(lo) - 1
    if lo[1:] == "0" * rest:
        first_lo = lo[0]
    else:
        out += [lo[0] + r for r in _digits_range(lo[1:], "9" * rest)]
        first_lo = str(int(lo[0]) + 1)
    if hi[1:] == "9" * rest:
        first_hi = hi[0]
        tail = []
    else:
        first_hi = str(int(hi[0]) - 1)
        tail = [hi[0] + r for r in _digits_range("0" * rest, hi[1:])]
    if int(first_lo) <= int(first_hi):
        first = first_lo if first_lo == first_hi else f"[{first_lo}-{first_hi}]"
        out.append(first + f"[0-9]{{{rest}}}")
    return out + tail


def _nonneg_range(lo: int, hi: int) -> list[str]:
    out = []
    length = len(str(lo))
    while lo <= hi:
        top = min(hi, 10 ** length - 1)
        out += _digits_range(str(lo), str(top))
        lo = top + 1
        length += 1
    return out


def int_range_regex(lo: int | None, hi: int | None, max_digits: int = 12) -> str:
    """A regex (without slashes) for canonical integers in [lo, hi]."""
    lo = -(10 ** max_digits - 1) if lo is None else lo
    hi = 10 ** max_digits - 1 if hi is None else hi
    parts = []
    if hi >= 0:
        parts += _nonneg_range(max(lo, 0), hi)
    if lo < 0:
        parts += ["-(" + "|".join(_nonneg_range(max(1, -min(hi, -1)), -lo)) + ")"]
    return "(" + "|".join(parts) + ")"


def float_regex(lo: float | None, hi: float | None, decimals: int = 6) -> str:
    """Numbers written as an integer part and up to `decimals` decimals, inside [lo, hi]. A
    fraction is only allowed where it cannot cross a bound, so fractional bounds are kept
    conservatively (0.5..1.5 admits 1 and 1.x but not 0.7)."""
    ilo = None if lo is None else math.ceil(lo)
    ihi = None if hi is None else math.floor(hi)
    frac = rf"(\.[0-9]{{1,{decimals}}})?"
    whole = int_range_regex(ilo, ihi)
    if ilo is not None and ihi is not None and ilo > ihi:
        return "(?!)"
    alts = []
    # fractions are safe strictly between the integer bounds (both signs count away from zero)
    inner_lo = None if ilo is None else ilo + (1 if ilo < 0 else 0)
    inner_hi = None if ihi is None else ihi - (1 if ihi >= 0 else 0)
    if inner_lo is None or inner_hi is None or inner_lo <= inner_hi:
        alts.append(int_range_regex(inner_lo, inner_hi) + frac)
    alts.append(whole)
    return "(" + "|".join(alts) + ")"


def format_float(value: float, decimals: int = 6) -> str:
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_int(value: int) -> str:
    return str(int(value))
