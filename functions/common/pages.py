"""The pages a browser gets: `GET /` (what this server is) and `GET /api` (the API
reference, rendered here from the OpenAPI document). Plain HTML and one inline style:
no script, no font or stylesheet from elsewhere (the Content-Security-Policy says so)."""

from __future__ import annotations

import functools
from html import escape
from typing import Any

from functions.common.api import Page
from functions.common.openapi import openapi_document

STYLE = """body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#1a1a1a;background:#fff}a{color:#0645ad}code{background:#f2f2f2;
padding:0 .2em}table{border-collapse:collapse;width:100%}th,td{text-align:left;
vertical-align:top;border-bottom:1px solid #ccc;padding:.3rem .5rem}h2{margin-top:2rem}"""


def _page(title: str, body: str) -> Page:
    return Page(f"<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport "
                f"content='width=device-width,initial-scale=1'><title>{escape(title)}</title>"
                f"<style>{STYLE}</style></head><body>{body}</body></html>")


@functools.cache
def landing() -> Page:
    return _page("Lomas", """<h1>Lomas</h1>
<p>A server for differentially private analysis of data you never see: each answer
leaves only through a differential-privacy mechanism, and is charged against the privacy
budget (epsilon, delta) an administrator granted you on that dataset.</p>
<p>Researchers use the Python client <code>lomas_client</code>:
<code>Client(url, token, dataset_name)</code>; <code>Client(url, token).get_datasets()</code>
lists the datasets you may query.</p>
<ul>
<li><a href="api">The API reference</a>: every route, its body and its answers.</li>
<li><a href="openapi.json">The OpenAPI 3.1 document</a>, for tools.</li>
<li><a href="health">Health</a>: whether the server and its store are up.</li>
</ul>""")


def _schema_name(content: dict[str, Any]) -> str:
    schema = next(iter(content.values()), {}).get("schema", {})
    ref = schema.get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref else schema.get("type", "")


def _fields(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = "".join(
        f"<tr><td><code>{escape(name)}</code>{'' if name in required else ' (optional)'}"
        f"</td><td>{escape(str(spec.get('description', spec.get('type', ''))))}</td></tr>"
        for name, spec in schema.get("properties", {}).items())
    return f"<table><tr><th>field</th><th>what</th></tr>{rows}</table>" if rows else ""


@functools.cache
def api_reference() -> Page:
    document = openapi_document()
    schemas = document.get("components", {}).get("schemas", {})
    sections = []
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {})
            name = _schema_name(body) if body else ""
            statuses = ", ".join(
                f"{code} {escape(answer.get('description', ''))}"
                for code, answer in op.get("responses", {}).items())
            public = op.get("security") == []
            sections.append(
                f"<h2 id='{escape(op['operationId'])}'><code>{method.upper()} "
                f"{escape(path)}</code></h2><p>{escape(op.get('summary', ''))}"
                f"{' No token needed.' if public else ''}</p>"
                + (f"<p>Body: <code>{escape(name)}</code></p>{_fields(schemas.get(name, {}))}"
                   if name else "")
                + f"<p>Answers: {statuses}</p>")
    return _page("Lomas API reference",
                 "<h1>Lomas API reference</h1><p>From <a href='openapi.json'>the OpenAPI "
                 "document</a>. Routes need <code>Authorization: Bearer &lt;token&gt;</code> "
                 "unless they say otherwise.</p>" + "".join(sections))
