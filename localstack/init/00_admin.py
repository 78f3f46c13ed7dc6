"""An admin token for the next scripts: LOMAS_ADMIN_TOKEN, the saved one, or a new admin.

A new admin is made with `lomas-admin bootstrap` (it writes to LOMAS_MONGODB_URL).
"""

import json
import os
import subprocess

from kit import read_state, say, write_state

ADMIN = "kit_admin"

if os.environ.get("LOMAS_ADMIN_TOKEN"):
    say("admin: using LOMAS_ADMIN_TOKEN")
elif read_state("admin_token"):
    say("admin: using the saved token")
else:
    run = subprocess.run(["lomas-admin", "bootstrap", "--name", ADMIN], capture_output=True,
                         text=True, check=False)
    if run.returncode != 0:
        raise SystemExit(f"bootstrap failed (if {ADMIN} exists, set LOMAS_ADMIN_TOKEN): "
                         f"{run.stderr.strip()}")
    write_state("admin_token", json.loads(run.stdout)["token"])
    say(f"admin: created {ADMIN}")
