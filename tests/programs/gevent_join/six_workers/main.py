from gevent import monkey
monkey.patch_all()

import time

import gevent


def worker(n):
    print(f'worker {n} start', flush=True)
    time.sleep(0.5)
    print(f'worker {n} done', flush=True)


greenlets = [gevent.spawn(worker, n) for n in range(0, 6)]  # workers 0-5: one too many
for g in greenlets:
    g.join()
print('all done', flush=True)
