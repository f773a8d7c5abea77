"""Coercions: a value from a parameter file, a flag or a request, checked and converted.

Each raises ``ConfigError`` naming the field, with the bad value shown short.
"""

from __future__ import annotations

import re

from user_failure_stats.errors import ConfigError
from user_failure_stats.text import visible

NOTIFY_MODES = ("always", "alert", "never")


def notify_mode(value) -> str | None:
    """Return ``always``, ``alert`` or ``never`` (any case); None for not given."""
    if value in (None, ""):
        return None
    mode = str(value).strip().lower()
    if mode not in NOTIFY_MODES:
        raise ConfigError(
            f"notify must be one of {', '.join(NOTIFY_MODES)}, got {str(value)[:40]!r}",
            field="notify",
        )
    return mode


def yes_no(value, field: str) -> bool:
    """Return a boolean from ``true``/``yes``/``on``/``1`` or ``false``/``no``/``off``/``0``."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0", ""):
        return False
    raise ConfigError(f"{field} must be true or false, got {str(value)[:40]!r}", field=field)


DECIMAL = re.compile(r"[0-9]{1,15}(\.[0-9]{0,15})?|\.[0-9]{1,15}")


def decimal(text: str) -> float | None:
    """Return the number a plain decimal (``30``, ``0.5``, ``.5``) writes, or None.

    ASCII digits only, no sign, exponent, ``_``, ``inf`` or ``nan``: ``float()`` would take
    ``٣٠``, ``1_0`` and ``1e400``.
    """
    text = text.strip()
    return float(text) if DECIMAL.fullmatch(text) else None


def rate(value, field: str) -> float | None:
    """Return a rate in [0, 1] from ``0.25``, ``"0.25"`` or ``"25%"``; None stays None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    if isinstance(value, float | int):
        rate = float(value)
    else:
        number = decimal(text[:-1] if text.endswith("%") else text)
        rate = float("nan") if number is None else number / (100 if text.endswith("%") else 1)
    if isinstance(value, bool) or not 0 <= rate <= 1:
        raise ConfigError(
            f"{field} must be a rate from 0 to 1 (or 0% to 100%), got {value!r}", field=field
        )
    return rate


def fdr_rate(value) -> float:
    """Return a false discovery rate above 0 and below 1 (``0.05``, ``"0.05"``, ``"5%"``)."""
    try:
        found = rate(value, "fdr")
    except ConfigError:
        found = None
    if found is None or not 0 < found < 1:
        shown = value[:40] if isinstance(value, str) else value
        raise ConfigError(
            f"fdr must be a rate above 0 and below 1, such as 0.05 or 5%, got {shown!r}",
            field="fdr",
        )
    return found


TITLE_LIMIT = 200


def is_unicode(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8.

    A lone surrogate cannot: a file name's or an argument's byte that was not UTF-8.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def folder_path(path, field: str):
    """Return ``path`` if its name is UTF-8 text (the notebook gets it as JSON), else refuse."""
    if not is_unicode(str(path)):
        raise ConfigError(
            f"{field} {visible(str(path))}: the folder's name is not UTF-8 text; choose one "
            "whose name is",
            field=field,
        )
    return path


def title_text(value) -> str:
    """Return the title, stripped; refuse one that is not one line of text of a sane length."""
    if value is not None and not isinstance(value, str):
        raise ConfigError("title must be text (in YAML, put it in quotes)", field="title")
    title = value.strip() if value is not None else ""
    if len(title) > TITLE_LIMIT or visible(title) != title or not is_unicode(title):
        raise ConfigError(
            f"title must be one line of at most {TITLE_LIMIT} characters of text (UTF-8), "
            "without control characters",
            field="title",
        )
    return title


MAX_WHOLE_NUMBER = 1_000_000


def whole_number(value, field: str, minimum: int, maximum: int = MAX_WHOLE_NUMBER) -> int:
    """Return a whole number from ``minimum`` to ``maximum`` (ASCII digits in a string)."""
    shown = value[:40] if isinstance(value, str) else value  # as given: "0", not 0
    # ASCII digits only: "²".isdigit() is True, and int() of 5,000 digits raises.
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,7}\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ConfigError(
            f"{field} must be a whole number from {minimum} to {maximum:,}, got {shown!r}",
            field=field,
        )
    return value
