"""lomas_contract: the wire contract of Lomas, imported by the server and the client.

Bodies (`models`, and each engine's and source's own module), the route table
(`routes`) and the OpenDP polars privacy domain (`engines.opendp`). It depends on
pydantic only; pandas, OpenDP and polars are imported where a function needs them.
"""
