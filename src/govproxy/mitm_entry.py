"""Script loaded by ``mitmdump -s`` when ``govproxy run`` starts the proxy.

mitmproxy's supported way to extend it is a script on its command line; this file is that
script, shipped inside the package so an installed govproxy does not need the repo.
"""

from govproxy.proxy import make_addons

addons = make_addons()
