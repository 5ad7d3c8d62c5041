# Attack (or mistake): never listens, just sleeps.
# Expected outcome (every tier): both behaviours fail with reason never_listened after the 5 s start-up
# timeout; the run is killed.
import time

time.sleep(60)
