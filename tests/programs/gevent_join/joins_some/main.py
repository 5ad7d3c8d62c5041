from gevent import monkey
monkey.patch_all()

import time

import gevent


def worker(n):
    print(f'worker {n} start', flush=True)
    time.sleep(0.5)
    print(f'worker {n} done', flush=True)


g_lst = [gevent.spawn(worker, n) for n in (1, 2, 3)]
gevent.joinall(g_lst)
g4 = gevent.spawn(worker, 4)  # spawned late and never joined: they never get to run
g5 = gevent.spawn(worker, 5)
print('all done', flush=True)
