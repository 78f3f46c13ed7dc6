"""Each query shape runs once on dummy data before its first charge.

SmartNoise and OpenDP can accept a query for costing that then fails when it runs
(`SELECT PI(), RAND(), POWER(AVG(age), 2) FROM t` is costed, then snsql fails).
Running it first on a few rows made from the metadata (never the private data,
never charged) turns that into a 400 InvalidQuery before any budget is spent.
The outcome is memoised per query shape, like the cost.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

from lomas.errors import ExternalLibraryError, InvalidQuery

DUMMY_ROWS = 50
DUMMY_SEED = 0


class Preflight:
    """A bounded memo of which query shapes ran on dummy data, and why the others failed."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._outcomes: OrderedDict[str, str] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()
        self.runs = 0

    @staticmethod
    def key(*parts: str) -> str:
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def check(self, key: str, run: Callable[[], object],
              refusal: str = "This query fails on dummy data") -> None:
        """Run `run` once per key. Raises InvalidQuery if it failed in the DP library because
        of the query (not of the values it met: ExternalLibraryError.cause)."""
        with self._lock:
            outcome = self._outcomes.get(key)
            if outcome is not None:
                self._outcomes.move_to_end(key)
        if outcome is None:
            self.runs += 1
            try:
                run()
                outcome = ""
            except ExternalLibraryError as exc:
                outcome = "" if exc.cause == "values" else exc.message
            with self._lock:
                self._outcomes[key] = outcome
                while len(self._outcomes) > self._max:
                    self._outcomes.popitem(last=False)
        if outcome:
            raise InvalidQuery(f"{refusal}, so it was not run and nothing was charged: "
                               f"{outcome}")


PREFLIGHT = Preflight()
