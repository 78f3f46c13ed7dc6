"""Tables as the engines read them, made from frames: DuckDB over a frame, dummy data,
the wire form of a DataFrame."""


class Planned(Exception):
    """A planning session's database accepted the statement: planned, not run."""
