from gevent import monkey
monkey.patch_all()

import time

import gevent


def worker(n):
    print(f'worker {n} start', flush=True)
    time.sleep(0)  # yields to the other greenlets, but does not wait 0.5 s
    print(f'worker {n} done', flush=True)


greenlets = [gevent.spawn(worker, n) for n in range(1, 6)]
for g in greenlets:
    g.join()
print('all done', flush=True)
