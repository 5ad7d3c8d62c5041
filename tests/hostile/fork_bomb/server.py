# Attack: fork bomb, BOUNDED so a failed sandbox cannot take the machine down: main forks up to 1000
# children, each of which sleeps 30 s, and never listens.
# Expected outcome: tier A/netns: the cgroup's pids.max stops it (B/userns: RLIMIT_NPROC; C: polling);
# both behaviours fail with reason process_limit; a good submission graded at the same time gets full
# marks; no process survives.
import os
import time

refused = 0
for _ in range(1000):
    try:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
    except OSError:
        refused += 1
        if refused > 50:
            break
        time.sleep(0.01)
time.sleep(30)
