"""``python -m govproxy.standin``: run the stand-in until interrupted.

Prints one JSON line when ready (``{"url", "port", "tls", "ca_file", "pid"}``) so a
parent process can read where it listens; then serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import sys

from govproxy.standin.cli import main

if __name__ == "__main__":
    sys.exit(main())
