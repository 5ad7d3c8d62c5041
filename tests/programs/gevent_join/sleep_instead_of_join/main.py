from gevent import monkey
monkey.patch_all()

import time

import gevent


def worker(n):
    print(f'worker {n} start', flush=True)
    time.sleep(0.5)
    print(f'worker {n} done', flush=True)


g_lst = [gevent.spawn(worker, n) for n in range(1, 6)]
time.sleep(0.1)  # instead of join: lets the workers start, but does not wait for them to finish
print('all done', flush=True)
