"""The framework importers read hostile cells and lines in time linear in their length.

A regular expression that retries from every position of a long cell is quadratic: a
20,000-character cell of "[" once took seconds in the engineering-ladders importer and held
the event loop. Wall-clock limits break on a busy machine, and timing two small sizes
against each other is at the mercy of allocation and caches, so each hostile page is timed
against a plain page of the same length: a linear reading costs a constant factor more
(at most about 150 times here: a regex attempt at each position against one scan over
plain text), a quadratic one on 200,000 characters over 100,000 times more.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from services.framework.adapters.files import engineering_ladders
from services.framework.adapters.files.report import ImportResult

LARGE = 200_000
# Far above any linear reading's constant, far below a quadratic one's growth.
FACTOR = 2_000


def ladder(cell: str = "", line: str = "") -> str:
    """An engineering-ladders page with `cell` in a position cell of its table (read for
    its links) and `line` among its bullets."""
    return f"""# Widget Maker

| Level | Senior | Position |
| :---: | :---: | :---: |
| 2 | No | [WM2 - Widget Maker 2](#wm2) {cell} |

## WM2 - Widget Maker 2

* **Adopts**: a
{line}
"""


# Shapes that make backtracking regular expressions retry: unclosed brackets, links without
# an end, runs of markers a rule, a table separator or a heading might start with.
HOSTILE: dict[str, Callable[[int], str]] = {
    "brackets": lambda n: ladder(cell="[" * n),
    "empty links": lambda n: ladder(cell="[](" * (n // 3)),
    "unclosed destination": lambda n: ladder(cell="[x](" + "(" * n),
    "links in destinations": lambda n: ladder(cell="[](" + "[](x)" * (n // 5)),
    "bold without end": lambda n: ladder(line="* **" + "a " * (n // 2)),
    "rule-like line": lambda n: ladder(line="- " * (n // 2) + "x"),
    "separator-like line": lambda n: ladder(line="| - " * (n // 4) + "x"),
    "closing hashes": lambda n: ladder(line="## a" + " #" * (n // 2) + "x"),
}


def cost(text: str) -> tuple[float, ImportResult]:
    """The least of three runs: the importer's own work, with less of the machine's noise."""
    best, result = float("inf"), None
    for _ in range(3):
        started = time.perf_counter()
        result = engineering_ladders.load(text, "WidgetMaker.md")
        best = min(best, time.perf_counter() - started)
    assert result is not None
    return best, result


@pytest.mark.parametrize("shape", sorted(HOSTILE))
def test_a_200000_character_cell_is_read_in_linear_time(shape: str) -> None:
    text = HOSTILE[shape](LARGE)
    assert len(text) > LARGE
    hostile, result = cost(text)
    assert result.framework is not None or result.issues, "read and reported, not raised"
    plain = min(cost(ladder(cell="a" * LARGE))[0], cost(ladder(line="* " + "a" * LARGE))[0])
    assert hostile <= FACTOR * plain, f"{shape}: {hostile:.4f}s, a plain page {plain:.4f}s"
