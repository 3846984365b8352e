"""``python -m jiesu_dispatch.learning import|train|evaluate``."""

from __future__ import annotations

import sys

from jiesu_dispatch.learning.cli import main

if __name__ == "__main__":
    sys.exit(main())
