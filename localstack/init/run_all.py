"""Run the numbered init scripts in order; stop at the first that fails.

A relative LOMAS_KIT_STATE is taken from where this was started (the scripts run in
their own folder)."""

import os
import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
env = dict(os.environ)
if env.get("LOMAS_KIT_STATE"):
    env["LOMAS_KIT_STATE"] = str(Path(env["LOMAS_KIT_STATE"]).resolve())
for script in sorted(here.glob("[0-9][0-9]_*.py")):
    if subprocess.run([sys.executable, str(script)], cwd=here, env=env,
                      check=False).returncode:
        raise SystemExit(f"{script.name} failed")
