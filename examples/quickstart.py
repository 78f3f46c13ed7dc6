"""The README's quickstart: run with LOMAS_URL and LOMAS_TOKEN set (.lomas/demo.env)."""

import os

from lomas_client import Client

client = Client(os.environ["LOMAS_URL"], os.environ["LOMAS_TOKEN"], "income_synth")
query = "SELECT COUNT(*) AS n, AVG(income) AS avg_income FROM income_synth"
print(client.get_remaining_budget())
print(client.smartnoise_sql.cost(query, epsilon=1.0, delta=1e-5))  # what it will charge
print(client.smartnoise_sql.query(query, epsilon=1.0, delta=1e-5))  # a pandas DataFrame
print(client.get_remaining_budget())  # lower by exactly the cost above
