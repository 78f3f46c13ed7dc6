"""Serve both functions on one port with waitress (threads), as the container does.

Without LOMAS_MONGODB_URL it starts the embedded state store under the state
folder. With LOMAS_DEV_MODE=true it seeds demo content and writes the demo
tokens to <state folder>/demo.env.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from functions.common.gateway import build_gateway
from functions.common.logs import configure_logging
from functions.common.wiring import build_context
from functions.container.bodies import create_capped_server
from functions.container.wsgi import ChaliceWsgi
from lomas.adapters.mongo.embedded import EmbeddedStore
from lomas.config import Settings
from lomas.services.context import Context

log = logging.getLogger("lomas.serve")


def create_wsgi(ctx: Context) -> ChaliceWsgi:
    """Both apps, sharing one Context, behind one WSGI callable."""
    return ChaliceWsgi(build_gateway(ctx, "query", "admin"), ctx.settings.max_body_bytes)


def make_server(app: Any, settings: Settings, **overrides: Any) -> Any:
    """The waitress server for these settings (oversized bodies get a readable 413)."""
    options: dict[str, Any] = {"host": settings.host, "port": settings.port,
                               "threads": settings.threads, "ident": "lomas", **overrides}
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


def start(settings: Settings) -> tuple[Context, EmbeddedStore | None]:
    """The Context for these settings, starting the embedded store if needed."""
    embedded = None
    if not settings.mongodb_url:
        embedded = EmbeddedStore(settings.embedded_store_path)
        settings = settings.model_copy(update={"mongodb_url": embedded.start()})
    return build_context(settings), embedded


def seed_demo(ctx: Context) -> None:
    from lomas import demo

    env_file = ctx.settings.state_dir / "demo.env"
    tokens = demo.seed(ctx, read_env_file(env_file))
    path = write_demo_env(ctx.settings, tokens.admin, tokens.researcher)
    print(  # noqa: T201 - the operator reads this
        f"\nLomas is running on http://{ctx.settings.host}:{ctx.settings.port}\n"
        f"  researcher {demo.RESEARCHER}: LOMAS_TOKEN={tokens.researcher}\n"
        f"  admin {demo.ADMIN}: LOMAS_ADMIN_TOKEN={tokens.admin}\n"
        f"  (also in {path}: `source {path}` exports them)\n",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="start, seed, then exit")
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level)
    ctx, embedded = start(settings)
    try:
        wsgi = create_wsgi(ctx)
        if ctx.settings.dev_mode:
            seed_demo(ctx)
        if args.check:
            return
        log.info("serving on %s:%s with %s threads", settings.host, settings.port,
                 settings.threads)
        make_server(wsgi, settings).run()
    finally:
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
