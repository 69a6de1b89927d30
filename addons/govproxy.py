"""Entry script for plain mitmproxy: ``mitmdump -s addons/govproxy.py [--set govproxy_config=FILE]``.

It builds the same addon ``govproxy run`` uses; the package must be installed
(``pip install -e .``). Gateway listeners need ``--mode reverse:URL@PORT`` on the
mitmdump command line, which ``govproxy run`` adds for you from the config.
"""

from govproxy.proxy import make_addons

addons = make_addons()
