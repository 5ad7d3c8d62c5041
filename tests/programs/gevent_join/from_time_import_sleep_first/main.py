from time import sleep  # bound BEFORE patching: this name keeps the blocking sleep

from gevent import monkey
monkey.patch_all()

import gevent


def worker(n):
    print(f'worker {n} start', flush=True)
    sleep(0.5)
    print(f'worker {n} done', flush=True)


gevent.joinall([gevent.spawn(worker, n) for n in range(1, 6)])
print('all done', flush=True)
