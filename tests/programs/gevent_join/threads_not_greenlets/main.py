from gevent import monkey
monkey.patch_all()

import threading
import time


def worker(n):
    print(f'worker {n} start', flush=True)
    time.sleep(0.5)
    print(f'worker {n} done', flush=True)


t_lst = [threading.Thread(target=worker, args=(n,)) for n in range(1, 6)]  # threads, not gevent.spawn
for t in t_lst:
    t.start()
for t in t_lst:
    t.join()
print('all done', flush=True)
