"""The demo datasets and their metadata as S3 objects: Palmer penguins (CSV) and the
synthetic income table (Parquet). The same content each run: an unchanged object is
not rewritten, so its ETag (and Lomas's cache) stays."""

import hashlib
import io

from botocore.exceptions import ClientError
from kit import DATASETS, aws, bucket, env, say

from lomas import demo

rows = int(env("LOMAS_KIT_ROWS", "20000"))
income = demo.income_frame(rows, seed=demo.INCOME_SEED)
parquet = io.BytesIO()
income.to_parquet(parquet, index=False)
content = {
    DATASETS["penguins_s3"][0]: demo.penguins_frame().to_csv(index=False).encode(),
    DATASETS["penguins_s3"][1]: demo.PENGUIN_METADATA.model_dump_json(exclude_none=True).encode(),
    DATASETS["income_s3"][0]: parquet.getvalue(),
    DATASETS["income_s3"][1]:
        demo.income_metadata(rows).model_dump_json(exclude_none=True).encode(),
}
s3 = aws("s3")
for key, body in content.items():
    digest = hashlib.sha256(body).hexdigest()
    try:
        same = s3.head_object(Bucket=bucket(), Key=key)["Metadata"].get("sha256") == digest
    except ClientError:
        same = False
    if same:
        say(f"s3://{bucket()}/{key}: unchanged")
        continue
    s3.put_object(Bucket=bucket(), Key=key, Body=body, Metadata={"sha256": digest})
    say(f"s3://{bucket()}/{key}: uploaded ({len(body)} bytes)")
