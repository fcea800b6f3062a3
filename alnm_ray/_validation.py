"""Declarative checks used at API boundaries (choices with "did you mean")."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from alnm_ray.exceptions import ConfigError


def did_you_mean(value: str, options: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest option, or ``""``.

    Example:
        >>> did_you_mean("T2W", ["T2WI", "DWI"])
        " Did you mean 'T2WI'?"
    """
    opts = [str(o) for o in options]
    by_lower = {o.lower(): o for o in opts}
    if str(value).lower() in by_lower:
        return f" Did you mean '{by_lower[str(value).lower()]}'?"
    close = difflib.get_close_matches(str(value).lower(), list(by_lower), n=1, cutoff=0.6)
    return f" Did you mean '{by_lower[close[0]]}'?" if close else ""


def look_up_option(name: str, value: str, options: Iterable[str]) -> str:
    """Check that ``value`` is one of ``options``.

    Args:
        name: What the value is for (a parameter or column name), used in the message.
        value: The value given.
        options: The allowed values.

    Returns:
        ``value`` unchanged.

    Raises:
        ConfigError: When ``value`` is not allowed; the message lists the
            options (sorted, capped) and suggests the closest one.

    Example:
        >>> look_up_option("classifier", "lr", ["lr", "svm"])
        'lr'
    """
    opts = sorted(str(o) for o in options)
    if value in opts:
        return value
    shown = ", ".join(opts[:12]) + (", …" if len(opts) > 12 else "")
    raise ConfigError(
        f"{name}: expected one of {shown}; got {value!r}.{did_you_mean(value, opts)}"
    )


def check_range(name: str, value: float, low: float | None = None, high: float | None = None,
                *, inclusive: bool = True) -> float:
    """Check that ``low <= value <= high`` (or strict when ``inclusive=False``).

    Example:
        >>> check_range("threshold", 0.9, 0.0, 1.0)
        0.9
    """
    ok_low = low is None or (value >= low if inclusive else value > low)
    ok_high = high is None or (value <= high if inclusive else value < high)
    if not (ok_low and ok_high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        bracket = ("[", "]") if inclusive else ("(", ")")
        raise ConfigError(
            f"{name}: expected a value in {bracket[0]}{lo}, {hi}{bracket[1]}; got {value!r}."
        )
    return value


#: Items an error message lists before it says how many there are in all.
MAX_SHOWN = 5


def capped(items: Iterable[object], n: int = MAX_SHOWN) -> str:
    """Render ``items`` for an error message: the first ``n`` reprs, then the count.

    Callers sort the items first, so a message names the same ones every time.

    Args:
        items: What to list (patient ids, column names, values).
        n: How many to show before "… (N in all)".

    Returns:
        ``"'a', 'b'"`` or ``"'a', 'b', … (7 in all)"``.

    Example:
        >>> capped(["P1", "P2"])
        "'P1', 'P2'"
        >>> capped(range(7), n=3)
        '0, 1, 2, … (7 in all)'
    """
    listed = list(items)
    shown = ", ".join(repr(i) for i in listed[:n])
    return shown + (f", … ({len(listed)} in all)" if len(listed) > n else "")
