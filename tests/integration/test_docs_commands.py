"""Commands the deployment guides show, run as a reader would paste them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.conftest import LiveServer
from tests.support.slow_data import ROOT


def block_after(doc: str, marker: str) -> str:
    text = (ROOT / doc).read_text()
    found = re.search(rf"<!-- {marker} -->\n```bash\n(.*?)```", text, re.DOTALL)
    assert found, f"{doc} has no block marked {marker}"
    return found.group(1)


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_the_aws_guides_sign_in_check_tells_a_good_token_from_a_tampered_one(
        live_server: LiveServer) -> None:
    env = dict(os.environ, LOMAS_URL=live_server.url, ID_TOKEN=live_server.world.token,
               DATASET="income")
    done = subprocess.run(["bash", "-euc", block_after("docs/deploy-aws.md", "verify-sign-in")],
                          env=env, capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["200", "401"]
