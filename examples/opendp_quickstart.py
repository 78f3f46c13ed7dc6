"""OpenDP on Lomas: run with LOMAS_URL and LOMAS_TOKEN set (source .lomas/demo.env)."""

import os

import opendp.prelude as dp
import polars as pl
from lomas_client import Client

client = Client(os.environ["LOMAS_URL"], os.environ["LOMAS_TOKEN"], "income_synth")

# A polars query, built on a Context shaped like the dataset (from its metadata).
context = client.opendp.context(dp.loss_of(epsilon=1.0))
query = context.query().select(dp.len(), pl.col("income").fill_null(0.0).dp.mean((0.0, 5e5)))
print(client.opendp.cost(query))  # what OpenDP maps it to, nothing spent
print(client.opendp.query(query))  # a pandas DataFrame

# A Measurement, on the dataset as CSV text, as Lomas has always given it to OpenDP.
count = (client.opendp.split_dataframe() >> dp.t.make_select_column("region", str)
         >> dp.t.then_count() >> dp.m.then_laplace(1.0))
print(client.opendp.query(count))  # a number
print(client.get_remaining_budget())
