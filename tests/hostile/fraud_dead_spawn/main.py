# Attack: static-check fraud, graded against the real gevent_join assignment (not this folder's spec).
# The output of five concurrent workers is staged with time.sleep in the main program; gevent.spawn is
# there for the AST only, inside `if False:`. Before: 7/7.
# Expected outcome: uses_gevent fails with "no work ran in greenlets at run time: 0 greenlet(s) ran" (the
# grader's greenlet tracer saw none); the output checks, which only see text, may pass.
from gevent import monkey
monkey.patch_all()

import time

import gevent


def worker(n):
    print(f"worker {n} start", flush=True)
    time.sleep(0.5)
    print(f"worker {n} done", flush=True)


if False:
    for n in range(1, 6):
        gevent.joinall([gevent.spawn(worker, n)])
for n in range(1, 6):
    print(f"worker {n} start", flush=True)
time.sleep(0.5)
for n in range(1, 6):
    print(f"worker {n} done", flush=True)
print("all done", flush=True)
