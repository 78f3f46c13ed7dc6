"""Serve both functions on one port with waitress, as the container does: LOMAS_WORKERS
processes (default one per core) of LOMAS_THREADS threads each, each on a socket of its
own on the one port (SO_REUSEPORT: the kernel spreads the connections).

Without LOMAS_MONGODB_URL the store is SQLite, one file under the state folder
(LOMAS_STORE names another). With LOMAS_DEV_MODE=true it seeds demo content and writes
the demo tokens to <state folder>/demo.env.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from functions.common.gateway import build_gateway
from functions.common.logs import configure_logging
from functions.common.wiring import MissingStore, build_context, open_store
from functions.container.bodies import create_capped_server
from functions.container.wsgi import ChaliceWsgi
from lomas.config import Settings
from lomas.errors import LomasError
from lomas.services.context import Context

log = logging.getLogger("lomas.serve")


def create_wsgi(ctx: Context) -> ChaliceWsgi:
    """Both apps, sharing one Context, behind one WSGI callable."""
    return ChaliceWsgi(build_gateway(ctx, "query", "admin"), ctx.settings.max_body_bytes)


def make_server(app: Any, settings: Settings, **overrides: Any) -> Any:
    """The waitress server for these settings (oversized bodies get a readable 413)."""
    options: dict[str, Any] = {"threads": settings.threads, "ident": "lomas", **overrides}
    if "sockets" not in options:  # waitress takes either a socket or where to listen
        options = {"host": settings.host, "port": settings.port, **options}
    return create_capped_server(app, settings.max_body_bytes, settings.max_drain_bytes,
                                **options)


def read_env_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    lines = (line.removeprefix("export ") for line in path.read_text().splitlines())
    pairs = (line.split("=", 1) for line in lines if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def write_demo_env(settings: Settings, admin_token: str, token: str) -> Path:
    path = settings.state_dir / "demo.env"
    path.parent.mkdir(parents=True, exist_ok=True)
    url = f"http://{settings.host}:{settings.port}"
    values = {"LOMAS_URL": url, "LOMAS_ADMIN_URL": url, "LOMAS_ADMIN_TOKEN": admin_token,
              "LOMAS_TOKEN": token}
    path.write_text("".join(f"export {k}={v}\n" for k, v in values.items()))
    path.chmod(0o600)
    return path


def start(settings: Settings) -> tuple[Context, Callable[[], None]]:
    """The Context for these settings, on the store they name, and how to close it."""
    store, close = open_store(settings)
    try:
        return build_context(settings, store=store), close
    except BaseException:
        close()
        raise


def seed_demo(ctx: Context) -> None:
    from lomas import demo

    env_file = ctx.settings.state_dir / "demo.env"
    tokens = demo.seed(ctx, read_env_file(env_file))
    path = write_demo_env(ctx.settings, tokens.admin, tokens.researcher)
    url = f"http://{ctx.settings.host}:{ctx.settings.port}"
    print(  # noqa: T201 - the operator reads this
        f"\nLomas is running on {url}\n"
        f"  researcher {demo.RESEARCHER}: LOMAS_TOKEN={tokens.researcher}\n"
        f"  admin {demo.ADMIN}: LOMAS_ADMIN_TOKEN={tokens.admin}\n"
        f"  the admin dashboard: {url}/admin/ui (sign in with the admin token)\n"
        f"  (also in {path}: `source {path}` exports them)\n",
        flush=True,
    )


def worker_count(settings: Settings) -> int:
    """LOMAS_WORKERS, 0 meaning one per core; the mongoeco stand-in serves in one process
    (its wire server lives in the process that started it)."""
    if settings.store_kind == "mongoeco":
        return 1
    return settings.workers or os.cpu_count() or 1


def listen(settings: Settings, count: int = 1) -> list[socket.socket]:
    """The listening sockets, one a worker. Raises SystemExit, in one line, when the port
    is taken.

    Several workers each get a socket of their own on the port (SO_REUSEPORT), among
    which the kernel spreads new connections: on one shared socket, the worker that
    accepted first took most of the researchers' kept-alive connections (all 8 of 8,
    seen), and the other worker idled. Those sockets could join another program's
    SO_REUSEPORT group (a second Lomas) on the port: a plain socket bound first, and
    closed, makes sure nothing listens there.
    """
    if count > 1:
        listen(settings)[0].close()
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    address = (settings.host, settings.port)
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if count > 1:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            if address[1] == 0:  # the port the first one got, for the others
                address = sock.getsockname()[:2]
            sock.listen(1024)
            sock.set_inheritable(True)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise SystemExit(f"Cannot listen on {settings.host}:{settings.port} ({exc.strerror}): "
                         "another program has the port; set LOMAS_PORT to a free one.") from None
    return sockets


def serve_socket(ctx: Context, sock: socket.socket) -> None:
    """One worker: its own Context (store connections, warm datasets, job threads) serving
    the shared socket until it is stopped."""
    settings = ctx.settings
    server = make_server(create_wsgi(ctx), settings, sockets=[sock])
    log.info("worker %s serving on %s:%s with %s threads", os.getpid(), settings.host,
             settings.port, settings.threads)
    signal.signal(signal.SIGTERM, lambda *_: server.close())
    with contextlib.suppress(OSError):  # closed under its select loop by SIGTERM
        server.run()


def _end_with(parent: int) -> None:
    """A worker ends at once when its supervisor is gone (killed): the server stops as one,
    as a container does, and nothing serves on after it."""
    while os.getppid() == parent:
        time.sleep(0.5)
    log.error("the supervisor %s is gone; worker %s ends", parent, os.getpid())
    os._exit(1)


def supervise(settings: Settings, sockets: list[socket.socket]) -> None:
    """Start a worker process on each socket and keep them running: one that dies is
    started again on its socket; SIGTERM or SIGINT stops them all."""

    def spawn(sock: socket.socket) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "functions.container.serve", "--worker-fd",
                   str(sock.fileno())]
        return subprocess.Popen(command, pass_fds=(sock.fileno(),))  # noqa: S603 - our own module

    children = [spawn(sock) for sock in sockets]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("serving on %s:%s with %s workers of %s threads", settings.host, settings.port,
             len(sockets), settings.threads)
    try:
        while not stopping:
            for i, child in enumerate(children):
                if child.poll() is not None and not stopping:
                    log.error("worker %s ended (%s); starting another", child.pid,
                              child.returncode)
                    children[i] = spawn(sockets[i])
            time.sleep(0.2)
    finally:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                child.terminate()
        for child in children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="start, seed, then exit")
    parser.add_argument("--worker-fd", type=int, help=argparse.SUPPRESS)  # a worker process
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level)
    worker = args.worker_fd is not None
    sockets: list[socket.socket] = []
    if worker:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor stops its workers
        threading.Thread(target=_end_with, args=(os.getppid(),), daemon=True).start()
        sockets = [socket.socket(fileno=args.worker_fd)]
    elif not args.check:
        sockets = listen(settings, worker_count(settings))
    try:
        ctx, close = start(settings)
    except (MissingStore, LomasError) as exc:
        raise SystemExit(f"Lomas cannot start: {exc}") from None
    try:
        if ctx.settings.dev_mode and not worker:
            seed_demo(ctx)
        if len(sockets) == 1:  # this process serves, on the same Context
            serve_socket(ctx, sockets[0])
    finally:
        close()
    if len(sockets) > 1:
        supervise(settings, sockets)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
