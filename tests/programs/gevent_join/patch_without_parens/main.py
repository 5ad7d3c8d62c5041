from gevent import monkey
monkey.patch_all  # missing (): nothing is patched

import time

import gevent


def worker(n):
    print(f'worker {n} start', flush=True)
    time.sleep(0.5)
    print(f'worker {n} done', flush=True)


gevent.joinall([gevent.spawn(worker, n) for n in range(1, 6)])
print('all done', flush=True)
