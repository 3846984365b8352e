"""The deployment checks live in scripts/deploy_checks, beside their command line."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
