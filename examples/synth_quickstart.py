"""Synthetic data and DP models on Lomas: run with LOMAS_URL and LOMAS_TOKEN set (source
.lomas/demo.env). The models part needs `pip install "./client[sklearn]" diffprivlib`."""

import os

from diffprivlib import models
from lomas_client import Client
from sklearn.pipeline import Pipeline

client = Client(os.environ["LOMAS_URL"], os.environ["LOMAS_TOKEN"], "income_synth")

# Synthetic rows: MWEM spends (epsilon, 0); MST and AIM need a delta.
columns = ["sex", "age", "education"]
print(client.smartnoise_synth.cost("mst", epsilon=1.0, delta=1e-5, select_cols=columns))
rows = client.smartnoise_synth.query("mwem", epsilon=0.5, select_cols=columns,
                                     synth_params={"iterations": 10}, nb_samples=100)
print(rows.head())  # a pandas DataFrame of synthetic rows

# A model: the pipeline goes as JSON, the fitted model comes back as plain arrays.
pipeline = Pipeline([
    ("scaler", models.StandardScaler(epsilon=0.5, bounds=([18, 0], [90, 500_000]))),
    ("classifier", models.LogisticRegression(epsilon=1.0, data_norm=2.0)),
])
trained = client.diffprivlib.query(pipeline, feature_columns=["age", "income"],
                                   target_columns=["sex"], score_epsilon=0.2)
print(trained.score_metric, trained.score)  # the held-out accuracy, with DP noise
print(trained.estimator.predict([[40, 80_000.0]]))  # a scikit-learn Pipeline
print(client.get_remaining_budget())
