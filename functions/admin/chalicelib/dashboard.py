"""The admin dashboard's files, served as they are: `make dashboard` builds them (Vite,
from dashboard/) into the folder beside this module, which deploys with the admin
function. They hold no secret: the page signs in with an admin token the admin types, or
with OIDC (authorization code with PKCE), and then calls the admin API like any client."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

from chalice import Response

from lomas.config import Settings
from lomas.errors import NotFound

FOLDER = Path(__file__).resolve().parent / "ui"
INDEX = "index.html"
CONFIG = "config.json"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,120}")
"""A file of the folder itself: no path separator, no leading dot."""


def content_security_policy(settings: Settings) -> str:
    """Scripts, styles and images from the dashboard only; calls to the admin API and,
    with OIDC, to the issuer (its discovery document and token endpoint)."""
    connect = "'self'"
    if settings.oidc_issuer and settings.oidc_dashboard_client_id:
        issuer = urlsplit(settings.oidc_issuer)
        connect += f" {issuer.scheme}://{issuer.netloc}"
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src {connect}; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


def _headers(content_type: str, settings: Settings, cache: str) -> dict[str, str]:
    return {"Content-Type": content_type, "Cache-Control": cache,
            "Content-Security-Policy": content_security_policy(settings),
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def sign_in_settings(settings: Settings) -> dict[str, object]:
    """What the page needs to offer OIDC: the issuer and the dashboard's public client."""
    if not (settings.oidc_issuer and settings.oidc_dashboard_client_id):
        return {"oidc": None}
    return {"oidc": {"issuer": settings.oidc_issuer,
                     "client_id": settings.oidc_dashboard_client_id}}


def redirect() -> Response:
    """/admin/ui -> its page, by a relative URL (right under any stage prefix)."""
    return Response(body="", status_code=302, headers={"Location": f"ui/{INDEX}"})


def serve(name: str, settings: Settings) -> Response:
    """One file of the dashboard. Raises NotFound (no such file, or not built)."""
    if name == CONFIG:
        return Response(body=json.dumps(sign_in_settings(settings)), status_code=200,
                        headers=_headers(TYPES[".json"], settings, "no-store"))
    suffix = Path(name).suffix
    if not NAME.fullmatch(name) or suffix not in TYPES or not (FOLDER / name).is_file():
        if not (FOLDER / INDEX).is_file():
            raise NotFound("The dashboard is not built here: run `make dashboard` (it is "
                           "built by `make run` and `make test`).")
        raise NotFound(f"The dashboard has no file {name!r}.")
    # Vite names the script and style after their content: kept a year. The page is
    # revalidated on every load, so a deployment is seen at once.
    cache = "no-cache" if name == INDEX else "public, max-age=31536000, immutable"
    return Response(body=(FOLDER / name).read_text(encoding="utf-8"), status_code=200,
                    headers=_headers(TYPES[suffix], settings, cache))
