"""Job runners: worker threads in this process, or an asynchronous Lambda invocation."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

ENDED_KEPT = 256
"""Jobs that ended here whose outcome a request may still wait for (it may ask just
after its job ended)."""

JOB_EVENT_KEY = "lomas_job"
"""A Lambda event {"lomas_job": "<uid>"} asks the function to run that job."""


class JobDispatchFailed(RuntimeError):
    """The job could not be handed to a runner."""


class _Run(threading.Event):
    """A job running here: set when it ends, with what its work returned."""

    outcome: object = None


class ThreadRunner:
    """Bounded pools of worker threads (the container): one for queries, one for fits
    (so that a long fit never holds a query's worker). Jobs beyond them wait in their
    queue; a job still queued when its lease ends is failed and refunded by its reader."""

    def __init__(self, workers: int, fit_workers: int = 1) -> None:
        self._sizes = {False: workers, True: fit_workers}
        self._pools: dict[bool, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()
        self._running: dict[str, _Run] = {}
        self._ended: OrderedDict[str, _Run] = OrderedDict()  # the latest, for late waiters

    def dispatch(self, uid: str, work: Callable[[], object], *, fit: bool = False) -> None:
        done = _Run()

        def run() -> None:
            try:
                done.outcome = work()
            finally:
                done.set()
                with self._lock:
                    self._running.pop(uid, None)
                    self._ended[uid] = done
                    while len(self._ended) > ENDED_KEPT:
                        self._ended.popitem(last=False)

        with self._lock:
            if fit not in self._pools:
                self._pools[fit] = ThreadPoolExecutor(
                    self._sizes[fit], thread_name_prefix="lomas-fit" if fit else "lomas-job")
            self._running[uid] = done
            try:
                self._pools[fit].submit(run)
            except RuntimeError as exc:  # shut down
                self._running.pop(uid, None)
                raise JobDispatchFailed(f"job {uid}: the worker pool is shut down") from exc

    def wait(self, uid: str, seconds: float) -> tuple[bool, object]:
        """Wait until a job running here ends (at most `seconds`): waiting requests wake as
        soon as their job ends, not at their next poll, with what its work returned.
        (False, None) at once if it is not here."""
        with self._lock:
            done = self._running.get(uid) or self._ended.pop(uid, None)
        if done is None:
            return False, None
        return True, done.outcome if done.wait(seconds) else None

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.shutdown(wait=wait)


class LambdaRunner:
    """Invokes a Lambda function (by default this one) asynchronously with the job's uid.

    Lambda cannot keep working after it has answered, so the job runs in another
    invocation; see `functions.common.lambda_events` for the receiving end.
    """

    def __init__(self, function_name: str | None = None, client: Any = None) -> None:
        self._function = function_name
        self._client = client

    @property
    def function_name(self) -> str:
        name = self._function or os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        if not name:
            raise JobDispatchFailed("no function to run jobs: set LOMAS_JOB_FUNCTION_NAME")
        return name

    def dispatch(self, uid: str, work: Callable[[], object], *, fit: bool = False) -> None:
        """Each invocation runs one job: a fit has the function to itself."""
        if self._client is None:
            import boto3

            self._client = boto3.client("lambda")
        try:
            answer = self._client.invoke(
                FunctionName=self.function_name, InvocationType="Event",
                Payload=json.dumps({JOB_EVENT_KEY: uid}).encode())
        except Exception as exc:
            raise JobDispatchFailed(f"job {uid}: {type(exc).__name__}") from exc
        if answer.get("StatusCode") != 202:
            raise JobDispatchFailed(f"job {uid}: Lambda answered {answer.get('StatusCode')}")

    def wait(self, uid: str, seconds: float) -> tuple[bool, object]:
        """The job runs in another invocation: nothing to wait on here."""
        return False, None
