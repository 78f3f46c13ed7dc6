"""SmartNoise-SQL's accuracy estimate: `get_simple_accuracy` on the reader that costs the
query, over the metadata and a connection with no table, so it reads no data.

SmartNoise estimates a column that is a plain COUNT or SUM: the half-width of the
interval that holds its noise with probability 1 - alpha, from the mechanism's noise
scale (set by epsilon, delta and the metadata's bounds). Other aggregates get none: an
AVG, a VARIANCE (ratios of noisy aggregates), an expression over an aggregate
(`2 * COUNT(*)`: SmartNoise would report its COUNT's bound as the expression's). GROUP BY
keys and constants are released without noise, and are not listed.
"""

from __future__ import annotations

import functools
import logging

from snsql._ast.expressions.sql import AggFunction

from lomas.engines.smartnoise_sql.execution import UNNAMED, no_data_reader
from lomas_contract.engines.smartnoise_sql import SmartnoiseSqlCostRequest
from lomas_contract.models import Accuracy, ColumnAccuracy, DatasetMetadata

log = logging.getLogger(__name__)

SIMPLE = ("COUNT", "SUM")
NONE_SIMPLE = "not available: SmartNoise-SQL estimates a plain COUNT or SUM only"
Column = tuple[str, str, float | None, str | None]  # name, statistic, bound, reason


def estimate_accuracy(dataset_name: str, metadata: DatasetMetadata,
                      request: SmartnoiseSqlCostRequest, alpha: float) -> Accuracy:
    """Each released column's bound at 1 - alpha confidence; reads no data. The query was
    costed first (`execution.estimate_cost`), which refused what SmartNoise cannot run."""
    mechanisms = tuple(sorted(request.mechanisms.items()))
    try:
        columns = _columns(dataset_name, metadata.model_dump_json(), request.query_str,
                           request.epsilon, request.delta, mechanisms, alpha)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        log.warning("smartnoise-sql accuracy estimate failed: %r", exc)
        return Accuracy.unavailable(alpha, "not available: SmartNoise-SQL could not "
                                           "estimate it for this query")
    return Accuracy.of(alpha, [ColumnAccuracy(column=name, statistic=statistic, bound=bound,
                                              reason=reason)
                               for name, statistic, bound, reason in columns], NONE_SIMPLE)


@functools.lru_cache(maxsize=1024)
def _columns(dataset_name: str, metadata_json: str, query: str, epsilon: float,
             delta: float, mechanisms: tuple[tuple[str, str], ...],
             alpha: float) -> tuple[Column, ...]:
    """A pure function of its arguments, memoised as the cost is."""
    reader = no_data_reader(dataset_name, metadata_json, epsilon, delta, mechanisms)
    subquery, rewritten = reader._rewrite(query)  # what get_simple_accuracy does, once
    bounds = reader._get_simple_accuracy(query=rewritten, subquery=subquery, alpha=alpha)
    written = reader.parse_query_string(query).select.namedExpressions
    columns: list[Column] = []
    for i, (named, symbol, bound) in enumerate(zip(written, rewritten._select_symbols, bounds,
                                                    strict=True)):
        name = symbol.name if symbol.name != UNNAMED else f"expr_{i}"
        expression = named.expression
        simple = isinstance(expression, AggFunction) and expression.name.upper() in SIMPLE
        if simple and bound is not None:
            columns.append((name, str(expression), float(bound), None))
        elif simple or expression.xpath("//AggFunction"):
            columns.append((name, str(expression), None, NONE_SIMPLE))
        # else: a GROUP BY key or a constant, released without noise
    return tuple(columns)
