#!/usr/bin/env bash
# t_sec_streams.sh: issue 10 regression tests (being written).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
cw_require_tools
tap_skip 1 "not written yet"
tap_done
