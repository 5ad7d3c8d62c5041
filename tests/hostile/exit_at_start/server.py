# Attack: sys.exit(0) at start, hoping that exit code 0 counts as a pass.
# Expected outcome (every tier): both behaviours fail, "the server exited before it listened"; reason crashed.
import sys

sys.exit(0)
