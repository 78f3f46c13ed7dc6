"""A per-user query rate limit that holds across instances: a counter in the store.

Each window of query_burst / query_rate seconds admits query_burst queries per
user; one atomic increment per request decides. Over the limit, the request is
refused before anything runs or is spent, with the seconds until the next window.
A charged query counts its window in the same step of the store as its claim and
charge (`QuerySteps.begin`); estimates and dummy queries count it on their own.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from lomas.domain import RateWindow, User
from lomas.errors import RateLimited
from lomas.services.context import Context


def window(ctx: Context, user: User, now: float | None = None) -> RateWindow | None:
    """The user's current window (None: no limit configured)."""
    rate, burst = ctx.settings.query_rate, ctx.settings.query_burst
    if rate <= 0:
        return None
    span = burst / rate
    now = time.time() if now is None else now
    index = int(now // span)
    expires = datetime.fromtimestamp((index + 2) * span, UTC)
    return RateWindow(user.name, index, expires, burst)


def limited(ctx: Context, rate: RateWindow, now: float | None = None) -> RateLimited:
    """The refusal of a request counted past its window's limit."""
    span = ctx.settings.query_burst / ctx.settings.query_rate
    ends = (rate.window + 1) * span
    now = time.time() if now is None else now
    return RateLimited(
        f"Too many queries: at most {rate.limit} per {span:g} s. Nothing was run or charged; "
        "try again after Retry-After seconds.", retry_after=max(1, math.ceil(ends - now)))


def admit(ctx: Context, user: User, now: float | None = None) -> None:
    """Count one query of the user. Raises RateLimited over the limit."""
    rate = window(ctx, user, now)
    if rate is not None and ctx.store.count_request(rate.user, rate.window,
                                                    rate.expires) > rate.limit:
        raise limited(ctx, rate, now)
