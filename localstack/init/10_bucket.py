"""The dataset bucket."""

from botocore.exceptions import ClientError
from kit import aws, bucket, say

s3 = aws("s3")
try:
    s3.head_bucket(Bucket=bucket())
    say(f"bucket {bucket()}: exists")
except ClientError as exc:
    if exc.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
        raise
    s3.create_bucket(Bucket=bucket())
    say(f"bucket {bucket()}: created")
