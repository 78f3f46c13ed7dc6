"""Background queries on the client side: a job handle, waiting with progress."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from lomas_client.errors import BY_TYPE, LomasClientError
from lomas_contract import models as m
from lomas_contract import routes as r

POLL_SECONDS = 20
"""How long one GET /status waits on the server (its maximum; under API Gateway's 30 s)."""
DEFAULT_JOB_TIMEOUT = 30 * 60.0
"""How long `query(...)` waits for a query's result, in seconds."""


class JobTimeoutError(LomasClientError):
    """The job did not finish in time. It goes on on the server: `client.job(uid)`."""

    def __init__(self, message: str, uid: str) -> None:
        super().__init__(message)
        self.uid = uid


def job_error(job: m.JobResponse) -> LomasClientError:
    """The error a failed job ended with, as the client raises it for a direct query."""
    error = job.error or m.ErrorResponse(type="InternalServer", message="The job failed.")
    return BY_TYPE.get(error.type, LomasClientError)(error.message, job.status_code)


class Progress:
    """One line on stderr while a query waits: its job, status and elapsed time.

    Nothing for a job that ends within a second. In a terminal or a notebook the line
    is redrawn; elsewhere (a log) a line is written every 30 s.
    """

    GRACE = 1.0

    def __init__(self, uid: str, stream: TextIO | None = None) -> None:
        self.uid, self.stream = uid, stream or sys.stderr
        self.started = time.monotonic()
        self.live = bool(getattr(self.stream, "isatty", lambda: False)()) or (
            "ipykernel" in sys.modules)
        self.last_line = 0.0
        self.shown = False

    def update(self, status: str, final: bool = False) -> None:
        elapsed = time.monotonic() - self.started
        if elapsed < self.GRACE and not self.shown:
            return
        text = f"lomas job {self.uid[:12]}: {status.replace('_', ' ')}, {elapsed:.0f} s"
        if self.live:
            self.stream.write(f"\r{text}   ")
        elif final or not self.shown or elapsed - self.last_line >= 30:
            self.stream.write(text + "\n")
            self.last_line = elapsed
        else:
            return
        self.shown = True
        self.stream.flush()

    def close(self, status: str) -> None:
        if self.shown:
            self.update(status, final=True)
            if self.live:
                self.stream.write("\n")
                self.stream.flush()


def released(answer: m.QueryResponse) -> Any:
    """What a query released, as its engine's result gives it (a DataFrame, a value)."""
    return answer.result.released()


class Job:
    """A query running on the server: `status()`, then `result(timeout=None)`.

    `result` gives what the synchronous call gives (a DataFrame, an OpenDP value) or
    raises its error (BudgetExhaustedError, ...). The job stays readable by its uid
    (`client.job(uid)`) until the server forgets it (a week by default).
    """

    def __init__(self, transport: Any, uid: str, progress: bool = True,
                 answer: m.JobResponse | None = None) -> None:
        self._http = transport
        self.uid = uid
        self._progress = progress
        self._last = answer

    def __repr__(self) -> str:
        state = self._last.status if self._last else "?"
        return f"<lomas Job {self.uid} {state}>"

    def info(self, wait: float = 0) -> m.JobResponse:
        """The job as the server has it now (waiting up to `wait` s for it to finish)."""
        if self._last is not None and self._last.status != "in_progress":
            return self._last
        params = {"wait": f"{wait:g}"} if wait > 0 else None
        self._last = m.JobResponse.model_validate(
            self._http.call(r.JOB_STATUS, params=params, uid=self.uid))
        return self._last

    def status(self) -> str:
        """in_progress, complete or failed."""
        return self.info().status

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the job (at most `timeout` s; None: as long as it takes), then its
        result. Raises the query's error, or JobTimeoutError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        progress = Progress(self.uid) if self._progress else None
        job = self._last or m.JobResponse(uid=self.uid, requested_by="", status="in_progress")
        try:
            while job.status == "in_progress":
                left = POLL_SECONDS if deadline is None else deadline - time.monotonic()
                if left <= 0:
                    raise JobTimeoutError(
                        f"Job {self.uid} is still running after {timeout:g} s; it goes on on "
                        f"the server: client.job({self.uid!r}).result() waits again.",
                        self.uid)
                if progress is not None:
                    progress.update(job.status)
                job = self.info(wait=min(POLL_SECONDS, max(left, 0.1)))
        finally:
            if progress is not None:
                progress.close(job.status)
        if job.status == "failed" or job.result is None:
            raise job_error(job)
        return released(job.result)
