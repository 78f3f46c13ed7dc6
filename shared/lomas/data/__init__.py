"""Tables as the engines read them, made from frames: DuckDB over a frame, dummy data,
the wire form of a DataFrame."""
