"""The canonical form every decision-log hash is computed over: RFC 8785, the JSON
Canonicalization Scheme (rules on `canonical`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any
from uuid import UUID

# RFC 8785 §3.2.2.3: numbers are IEEE 754 doubles, so only integers in this range are exact.
MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalError(ValueError):
    """A value that has no canonical form: NaN, infinities, a naive datetime, an integer too
    large for an IEEE double, a non-string key, a lone surrogate or an unsupported type. The
    message names where in the value it sits (`$.payload.scores[2]`)."""


def canonical(payload: Any) -> bytes:
    """The canonical bytes of `payload`: RFC 8785 (JSON Canonicalization Scheme), UTF-8.

    - objects: keys must be strings; sorted by their UTF-16 code units (RFC 8785 §3.2.3); no
      whitespace anywhere; any `Mapping` is an object, `list` and `tuple` are arrays;
    - strings: UTF-8 as they are, escaping only `"`, `\\` and control characters (`\\n`, `\\t`,
      ..., otherwise `\\u00xx` in lowercase hex); a lone surrogate is refused;
    - `True`, `False`, `None`: `true`, `false`, `null`;
    - integers: their digits within +-(2**53 - 1); beyond that, JCS writes the nearest double,
      which is accepted only when its text still denotes exactly the integer (2**53, `1e+21`
      for 10**21); others (2**53 + 1) are refused rather than rounded: write them as strings;
    - floats: the ECMAScript shortest round-trip form, as RFC 8785 requires: `3.5`, `4` for
      4.0, `0` for -0.0, `1e+21`, `1e-7`, `0.000001`; so 4 and 4.0 are the same number.
      NaN and infinities are refused;
    - `datetime`: must carry a time zone; written as a string in UTC, ISO 8601, always with
      microseconds and `Z`: `"2026-03-01T09:30:00.000000Z"` (PostgreSQL `timestamptz` keeps
      microseconds, so a stored value reads back to the same bytes);
    - `date`: `"2026-03-01"`; `UUID`: lowercase hyphenated string;
    - `Decimal`: a string of its exact value in plain notation with no trailing zeros
      (`Decimal("3.50")` is `"3.5"`, `Decimal("1E+2")` is `"100"`), so it is never rounded
      through a double; NaN and infinities are refused;
    - anything else (bytes, sets, `time`, models, ...) is refused: convert it first.

    The string forms of datetimes, dates, UUIDs and Decimals are JSON strings, so a value
    read back from JSON (e.g. a `jsonb` column) as a string has the same canonical bytes.
    """
    try:
        return _encode(payload).encode("utf-8")
    except CanonicalError as error:
        raise CanonicalError(f"{_locate(payload, '$') or '$'}: {error}") from None
    except RecursionError:
        raise CanonicalError("$: nested too deeply, or contains itself") from None
    except UnicodeEncodeError:
        raise CanonicalError(
            f"{_locate(payload, '$') or '$'}: a string holds a lone surrogate, which UTF-8 "
            "cannot encode"
        ) from None


def _encode(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is dict:
        return _object(value)
    if kind is int:
        return _integer(value)
    if kind is float:
        return _float(value)
    if kind is list or kind is tuple:
        return "[" + ",".join([_encode(item) for item in value]) + "]"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return _other(value)


def _object(value: Mapping[Any, Any]) -> str:
    keys = list(value)
    for key in keys:
        if not isinstance(key, str):
            raise CanonicalError(f"object key {key!r} is not a string")
    if all([key.isascii() for key in keys]):
        keys.sort()
    else:
        # RFC 8785 §3.2.3: sorted by UTF-16 code units. Big-endian UTF-16 bytes compare the
        # same way; code points differ from that order above U+FFFF.
        keys.sort(key=lambda key: key.encode("utf-16-be", "surrogatepass"))
    return (
        "{" + ",".join([encode_basestring(key) + ":" + _encode(value[key]) for key in keys]) + "}"
    )


def _integer(value: int) -> str:
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return int.__repr__(value)
    # Beyond that, JCS reads a number as the nearest double and writes that double's shortest
    # form: accepted when that text still denotes exactly this integer (2**53, 10**21 as
    # "1e+21"), so nothing is rounded and the value reads back from JSON the same.
    try:
        text = _float(float(value))
    except OverflowError:
        text = ""
    if text and int(Decimal(text)) == value:
        return text
    raise CanonicalError(
        f"integer {value} is beyond +-(2**53 - 1) and its nearest double is another number; "
        "write it as a string"
    )


def _float(value: float) -> str:
    """ECMAScript Number.prototype.toString, as RFC 8785 §3.2.2.3 requires."""
    if value == 0:
        return "0"  # and -0.0
    text = float.__repr__(value)  # the shortest string that reads back to the same double
    if "e" not in text:
        if "n" in text:  # nan, inf
            raise CanonicalError(f"{text} is not a number JSON can carry")
        # Python writes 1e-4 <= |x| < 1e16 in plain notation, with the same digits as
        # ECMAScript, which only drops the ".0" of whole numbers.
        return text[:-2] if text.endswith(".0") else text
    sign = ""
    if text[0] == "-":
        sign, text = "-", text[1:]
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    # value = 0.<digits> x 10**point
    point = len(whole) + int(exponent)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    count = len(digits)
    if count <= point <= 21:
        return sign + digits + "0" * (point - count)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    power = point - 1
    mantissa = digits if count == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mantissa}e{'+' if power >= 0 else '-'}{abs(power)}"


def _other(value: Any) -> str:
    """Everything `_encode` does not dispatch on by exact type."""
    if isinstance(value, datetime):
        return '"' + _instant(value) + '"'
    if isinstance(value, date):
        return '"' + value.isoformat() + '"'
    if isinstance(value, UUID):
        return '"' + str(value) + '"'
    if isinstance(value, Decimal):
        return '"' + _decimal(value) + '"'
    # Subclasses of the JSON types (enums, other mappings) are written as their base type.
    if isinstance(value, str):
        return encode_basestring(str.__str__(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _integer(int(value))
    if isinstance(value, float):
        return _float(float(value))
    if isinstance(value, Mapping):
        return _object(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join([_encode(item) for item in value]) + "]"
    raise CanonicalError(
        f"{type(value).__name__} has no canonical form (supported: str, int, float, bool, "
        "None, dict, list, tuple, aware datetime, date, UUID, Decimal)"
    )


def _instant(value: datetime) -> str:
    offset = value.utcoffset()
    if offset is None:
        raise CanonicalError(f"datetime {value.isoformat()} has no time zone: it names no instant")
    if offset:
        value = value.astimezone(UTC)
    # "+00:00" off the end: the same instant in UTC, written with "Z".
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


def _decimal(value: Decimal) -> str:
    if not value.is_finite():
        raise CanonicalError(f"Decimal {value} is not a finite number")
    if value.is_zero():
        return "0"
    return format(value.normalize(), "f")


def _locate(value: Any, path: str) -> str:
    """Where in `value` the first part without a canonical form sits (only on errors)."""
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str) or _refused(key):
                return path
            found = _locate(value[key], path + (f".{key}" if key.isidentifier() else f"[{key!r}]"))
            if found:
                return found
        return ""
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _locate(item, f"{path}[{index}]")
            if found:
                return found
        return ""
    return path if _refused(value) else ""


def _refused(leaf: Any) -> bool:
    try:
        _encode(leaf).encode("utf-8")
    except (CanonicalError, UnicodeEncodeError):
        return True
    return False


def instant(value: datetime) -> str:
    """How `canonical` writes a datetime: UTC, microseconds, `Z`."""
    return _instant(value)
