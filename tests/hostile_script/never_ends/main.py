# Attack (or mistake): a script that never ends (and never prints "done").
# Expected outcome (every tier): stopped by the sandbox at the behaviour's 2-second budget: reason timeout.
import time

time.sleep(120)
