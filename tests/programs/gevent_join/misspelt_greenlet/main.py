from gevent import monkey
monkey.patch_all()

import time

import gevent


def worker(n):
    print(f'worker {n} start', flush=True)
    time.sleep(0.5)
    print(f'worker {n} done', flush=True)


g_lst = []
for n in range(1, 6):
    g_lst.append(gevent.spawn(worker, m))  # NameError: m (meant n) -- raised before the first spawn
gevent.joinall(g_lst)
print('all done', flush=True)
