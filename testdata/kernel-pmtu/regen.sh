#!/bin/sh
# regen.sh regenerates the golden path-MTU kernel corpus (issue 16) in this
# directory: testdata/kernel/regen.sh run on this directory (see its comment
# and this directory's README.md first: goldens are never regenerated to
# make a test pass without understanding the drift).
#
# Usage: sudo testdata/kernel-pmtu/regen.sh [SCENARIO.yaml ...]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
REGEN_DIR=$here exec "$here/../kernel/regen.sh" "$@"
