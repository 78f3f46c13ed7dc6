"""The datasets' S3 credentials as a Secrets Manager secret <prefix><name>, which the
Lomas server reads (LOMAS_AWS_SECRETS_PREFIX). Datasets name it; they never hold it."""

import json

from kit import aws, env, say, secret_name

name = env("LOMAS_AWS_SECRETS_PREFIX", "lomas/") + secret_name()
value = json.dumps({"aws_access_key_id": env("KIT_S3_ACCESS_KEY_ID", "test"),
                    "aws_secret_access_key": env("KIT_S3_SECRET_ACCESS_KEY", "test")})
secrets = aws("secretsmanager")
try:
    current = secrets.get_secret_value(SecretId=name)["SecretString"]
except secrets.exceptions.ResourceNotFoundException:
    secrets.create_secret(Name=name, SecretString=value)
    say(f"secret {name}: created")
else:
    if current != value:
        secrets.put_secret_value(SecretId=name, SecretString=value)
        say(f"secret {name}: updated")
    else:
        say(f"secret {name}: unchanged")
