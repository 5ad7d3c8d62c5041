from gevent import monkey;monkey.patch_all()
import time
import gevent


def worker(n):
    print('worker %s start' % n, flush=True)
    time.sleep(0.5)
    print('worker %s done' % n, flush=True)


g_lst = []
for i in range(1, 6):
    g = gevent.spawn(worker, i)
    g_lst.append(g)
gevent.joinall(g_lst)  # wait for all greenlets
print('all done', flush=True)
