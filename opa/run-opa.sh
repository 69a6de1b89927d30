#!/bin/sh
# Serve the repository's policies/ on OPA's REST Data API (default 127.0.0.1:8181).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
addr=${1:-127.0.0.1:8181}
exec opa run --server --addr "$addr" --config-file "$here/config.yaml" --bundle "$here/../policies"
