"""Fits in a separate process: stopped at their time limit, a bounded number at once.

A synthesizer or a model is fitted by `python -m lomas.engines.isolation`, which reads a
JSON header line (the task and its spec, made from the request and the metadata only) and
then the rows as an Arrow IPC stream on stdin, and writes one JSON answer on stdout. The
parent kills it at `LOMAS_FIT_TIMEOUT_SECONDS`; the cost stays spent, since the data was
read. Only JSON and Arrow cross the pipe: nothing is pickled. The child gets no secret
(its environment is a short allowlist) and what it prints is dropped (AIM prints progress
figures computed from the private data).

The tasks are a fixed table (`TASKS`) of this package's own modules: no name is taken
from a request.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from lomas.errors import ExternalLibraryError, InternalServer, InvalidQuery

log = logging.getLogger(__name__)

TASKS = {
    "smartnoise_synth": "lomas.engines.smartnoise_synth.fit",
    "diffprivlib": "lomas.engines.diffprivlib.fit",
}
"""Task name -> the module whose `run(spec, frame) -> dict` the child calls."""

ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV",
               "LD_LIBRARY_PATH")
"""What the child inherits of the environment: no LOMAS_ setting, key or DSN."""

CHILD_ENV = {"JAX_PLATFORMS": "cpu", "PYTHONHASHSEED": "random", "OMP_NUM_THREADS": "2",
             "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}


class FitRefused(Exception):
    """Raised by a task for a request it cannot fit (message safe to show)."""


@dataclass
class IsolatedFits:
    """The fit runner of a process (`lomas.ports.FitRunner`)."""

    timeout_seconds: float
    concurrency: int = 1

    def __post_init__(self) -> None:
        self._slots = threading.BoundedSemaphore(self.concurrency)

    def run(self, task: str, spec: dict[str, Any], frame: Any, *, dummy: bool) -> dict[str, Any]:
        """Fit in a child process; its JSON answer. Raises ExternalLibraryError (the fit
        failed or ran past its limit; on private data the message names the kind only)."""
        if task not in TASKS:
            raise InternalServer(f"no fit task {task!r}")
        payload = _payload(task, spec, frame)
        with self._slots:  # at most `concurrency` fits at once in this process
            started = time.monotonic()
            answer = self._child(payload)
        log.info("fit task=%s dummy=%s seconds=%.2f", task, dummy, time.monotonic() - started)
        if "error" in answer:
            error = answer["error"]
            if error.get("refused"):
                raise InvalidQuery(error["message"])
            if dummy:
                raise ExternalLibraryError(f"The fit failed: {error['message']}")
            log.warning("fit %s failed on private data: %s", task, error["kind"])
            raise ExternalLibraryError(f"The fit failed on the data: {error['kind']}")
        return answer["result"]

    def _child(self, payload: bytes) -> dict[str, Any]:
        env = child_environment()
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        try:
            out, _ = child.communicate(payload, timeout=self.timeout_seconds)
        except subprocess.TimeoutExpired:
            _kill(child)
            raise ExternalLibraryError(
                f"The fit ran past its time limit ({self.timeout_seconds:g} s, "
                "LOMAS_FIT_TIMEOUT_SECONDS) and was stopped. Its cost stays spent: the data "
                "was read. Ask for fewer iterations or columns.") from None
        except BaseException:
            _kill(child)
            raise
        if child.returncode != 0 or not out:
            log.warning("fit child exited with %s", child.returncode)
            raise ExternalLibraryError(
                "The fit stopped before it finished (its process exited with "
                f"{child.returncode}, out of memory?). Its cost stays spent.")
        answer: dict[str, Any] = json.loads(out)
        return answer


def child_environment() -> dict[str, str]:
    """The child's environment: the allowlist of ours, and CPU-only JAX."""
    return {k: v for k, v in os.environ.items() if k in ENVIRONMENT} | CHILD_ENV


def _kill(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def _payload(task: str, spec: dict[str, Any], frame: Any) -> bytes:
    """The header line and the rows (a polars DataFrame) as an Arrow IPC stream."""
    buffer = io.BytesIO()
    frame.write_ipc_stream(buffer)
    header = json.dumps({"task": task, "spec": spec}, allow_nan=False)
    return header.encode() + b"\n" + buffer.getvalue()


def child_main() -> None:
    """The child: read the task, fit, answer on the real stdout; everything printed goes
    to stderr, which the parent drops."""
    answer_to = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr
    data = sys.stdin.buffer.read()
    line, _, rows = data.partition(b"\n")
    header = json.loads(line)
    try:
        import polars as pl

        frame = pl.read_ipc_stream(io.BytesIO(rows))
        module = import_module(TASKS[header["task"]])
        answer: dict[str, Any] = {"result": module.run(header["spec"], frame)}
    except FitRefused as exc:
        answer = {"error": {"refused": True, "message": str(exc), "kind": "FitRefused"}}
    except Exception as exc:  # noqa: BLE001 - by kind (private data), in full (dummy data)
        from lomas.errors import first_line

        answer = {"error": {"kind": type(exc).__name__, "message": first_line(exc)}}
    answer_to.write(json.dumps(answer, allow_nan=False))
    answer_to.flush()


if __name__ == "__main__":
    child_main()
