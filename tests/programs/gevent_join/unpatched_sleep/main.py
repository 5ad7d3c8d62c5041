import time  # no monkey.patch_all(): time.sleep blocks the only thread

import gevent


def worker(n):
    print(f'worker {n} start', flush=True)
    time.sleep(0.5)
    print(f'worker {n} done', flush=True)


g_lst = [gevent.spawn(worker, n) for n in range(1, 6)]
gevent.joinall(g_lst)
print('all done', flush=True)
