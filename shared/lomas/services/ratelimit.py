"""A per-user query rate limit that holds across instances: a counter in the store.

Each window of query_burst / query_rate seconds admits query_burst queries per
user; one atomic increment per request decides. Over the limit, the request is
refused before anything runs or is spent, with the seconds until the next window.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from lomas.domain import User
from lomas.errors import RateLimited
from lomas.services.context import Context


def admit(ctx: Context, user: User, now: float | None = None) -> None:
    """Count one query of the user. Raises RateLimited over the limit."""
    rate, burst = ctx.settings.query_rate, ctx.settings.query_burst
    if rate <= 0:
        return
    span = burst / rate
    now = time.time() if now is None else now
    window = int(now // span)
    ends = (window + 1) * span
    expires = datetime.fromtimestamp(ends + span, UTC)
    if ctx.store.count_request(user.name, window, expires) > burst:
        raise RateLimited(
            f"Too many queries: at most {burst} per {span:g} s. Nothing was run or charged; "
            "try again after Retry-After seconds.", retry_after=max(1, math.ceil(ends - now)))
