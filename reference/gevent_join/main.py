# gevent_join reference: five workers run as greenlets; main waits for all of them.
# ruff: noqa: E402, I001 -- monkey.patch_all() has to run before the other imports
from gevent import monkey
monkey.patch_all()  # first: replaces time.sleep (and socket, ...) with cooperative versions

import time

import gevent


def worker(n):
    print(f'worker {n} start', flush=True)
    time.sleep(0.5)  # patched: this greenlet yields, the others run meanwhile
    print(f'worker {n} done', flush=True)


greenlets = [gevent.spawn(worker, n) for n in range(1, 6)]
for g in greenlets:
    g.join()  # without join the main program would end before the workers run
print('all done', flush=True)
