"""Entry script for plain mitmproxy: ``mitmdump -s addons/govproxy.py [--set govproxy_config=FILE]``.

It builds the same addon ``govproxy run`` uses; the package must be installed
(``pip install -e .``). Gateway listeners need ``--mode reverse:URL@PORT`` on the
mitmdump command line, which ``govproxy run`` adds for you from the config.
"""

import os
import sys

# mitmproxy puts this script's folder first on sys.path, where this very file would shadow
# the installed `govproxy` package: take the folder out before importing it.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
if getattr(sys.modules.get("govproxy"), "__file__", "") == os.path.abspath(__file__):
    del sys.modules["govproxy"]

from govproxy.proxy import make_addons  # noqa: E402

addons = make_addons()
