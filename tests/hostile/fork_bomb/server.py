# Attack: fork bomb, BOUNDED so a failed sandbox cannot take the machine down: a binary tree of depth 9
# (at most 1023 processes), each of which sleeps 30 s, while main never listens.
# Expected outcome: tier A/netns: the cgroup's pids.max stops it; both behaviours fail with reason
# process_limit; a good submission graded at the same time gets full marks; no process survives.
import os
import time

depth = 0
while depth < 9:
    forked = 0
    for _ in range(2):
        try:
            if os.fork() == 0:
                depth += 1
                break
            forked += 1
        except OSError:
            time.sleep(0.05)
    else:
        break
time.sleep(30)
