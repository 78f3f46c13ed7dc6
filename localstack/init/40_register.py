"""The datasets registered through the admin API, data and metadata read from S3 with
the named credentials."""

import os

from kit import DATASETS, admin, bucket, env, say, secret_name

from lomas_client.errors import NotFoundError

http = admin()
endpoint = os.environ.get("LOMAS_KIT_S3_ENDPOINT") or env("AWS_ENDPOINT_URL")
region = env("AWS_DEFAULT_REGION", "us-east-1")
for name, (data_key, metadata_key) in DATASETS.items():
    try:
        http.request("GET", f"/admin/datasets/{name}")
        say(f"dataset {name}: registered already")
        continue
    except NotFoundError:
        pass

    def access(key: str) -> dict[str, str]:
        return {"type": "s3", "bucket": bucket(), "key": key, "endpoint_url": endpoint,
                "region": region, "credentials_name": secret_name()}

    http.request("POST", "/admin/datasets", json={
        "dataset_name": name, "dataset_access": access(data_key),
        "metadata_access": access(metadata_key)})
    say(f"dataset {name}: registered")
