"""Rewrite constraints.txt from the environment this runs in: the tested set that CI and the README install.

Run it in a fresh venv installed as the README says but without `-c constraints.txt` (so pip picks today's
releases), after the tests passed there:  python scripts/refresh_constraints.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowvq_core.versions import CONSTRAINTS_FILE, write_constraints  # noqa: E402

if __name__ == "__main__":
    pins = write_constraints()
    print(f"{CONSTRAINTS_FILE}: {len(pins)} packages pinned")
