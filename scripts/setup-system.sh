#!/usr/bin/env bash
# System packages the sandbox can use. Installed where we can (root + apt); otherwise the grader says,
# once, which isolation tier it fell back to and why. Never fails the set-up.
set -u
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)      # tier A: the sandbox itself
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)    # tier A: drops to the slot's uid before bwrap
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing ${need[*]} (apt-get)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null 2>&1 \
    || echo "setup: could not install ${need[*]}; the grader will use a lower isolation tier"
else
  echo "setup: ${need[*]} not installed and cannot install it here (not root or no apt-get);" \
       "the grader will use a lower isolation tier"
fi
exit 0
