import time
import gevent


def worker(n):
    print('worker', n, 'start', flush=True)
    time.sleep(0.5)
    print('worker', n, 'done', flush=True)


g1 = gevent.spawn(worker, 1)
g2 = gevent.spawn(worker, 2)
g3 = gevent.spawn(worker, 3)
g4 = gevent.spawn(worker, 4)
g5 = gevent.spawn(worker, 5)
gevent.joinall([g1, g2, g3, g4, g5])
print('all done', flush=True)
