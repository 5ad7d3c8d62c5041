from gevent import monkey
monkey.patch_all()

import time

import gevent

finished = {}


def worker(n):
    print(f'worker {n} start', flush=True)
    time.sleep(0.5)
    print(f'worker {n} done', flush=True)
    finished[n] += 1  # KeyError: the greenlet dies with a traceback, the program still exits 0


gevent.joinall([gevent.spawn(worker, n) for n in range(1, 6)])
print('all done', flush=True)
