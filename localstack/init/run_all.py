"""Run the numbered init scripts in order; stop at the first that fails."""

import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
for script in sorted(here.glob("[0-9][0-9]_*.py")):
    if subprocess.run([sys.executable, str(script)], cwd=here, check=False).returncode:
        raise SystemExit(f"{script.name} failed")
