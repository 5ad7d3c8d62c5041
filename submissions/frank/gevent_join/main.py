from time import sleep
from gevent import monkey; monkey.patch_all()
import gevent


def worker(n):
    print('worker %s start' % n, flush=True)
    sleep(0.5)
    print('worker %s done' % n, flush=True)


gevent.joinall([gevent.spawn(worker, i) for i in range(1, 6)])
print('all done', flush=True)
