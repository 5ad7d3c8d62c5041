from gevent import monkey
monkey.patch_all()

import time

import gevent


def worker(n):
    print(f'worker {n} start', flush=True)
    time.sleep(0.5)
    print(f'worker {n} done', flush=True)


for n in range(1, 6):
    gevent.spawn(worker, n)  # started, but nobody waits for them
print('all done', flush=True)
