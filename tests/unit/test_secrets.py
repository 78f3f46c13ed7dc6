from pathlib import Path

import pytest

from lomas.sources.secrets import ChainSecrets, EnvSecrets, FileSecrets, SecretNotFound


def test_a_missing_secrets_file_knows_no_secret(tmp_path: Path) -> None:
    """The chart mounts the secrets file from an optional Secret key: it may be absent."""
    chain = ChainSecrets(EnvSecrets({}), FileSecrets(tmp_path / "absent.yaml"))
    with pytest.raises(SecretNotFound):
        chain.get("census_ro")
    (tmp_path / "absent.yaml").write_text("census_ro: {aws_access_key_id: k}\n")
    assert chain.get("census_ro") == {"aws_access_key_id": "k"}
