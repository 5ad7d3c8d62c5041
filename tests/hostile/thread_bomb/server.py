# Attack: thread bomb, BOUNDED: up to 2000 threads that each sleep 30 s, then never listens.
# Expected outcome: tier A/netns: the cgroup's pids.max (threads count) stops it; both behaviours fail with
# reason process_limit; a concurrent good submission gets full marks.
import threading
import time

started = failed = 0
for _ in range(2000):
    try:
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
        started += 1
    except RuntimeError:
        failed += 1
print("threads started", started, "refused", failed, flush=True)
time.sleep(30)
