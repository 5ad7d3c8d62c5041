# Attack (or mistake): blocks on input() before listening.
# Expected outcome (every tier): stdin is /dev/null, so input() raises EOFError at once: both behaviours fail
# with reason crashed, and the summary names the EOFError (no hang).
name = input("port? ")
