from gevent import monkey; monkey.patch_all()
import time
import gevent


def worker(n):
    print('worker %d start' % n, flush=True)
    time.sleep(0.5)   # patched, so the other workers run meanwhile
    print('worker %d done' % n, flush=True)


jobs = [gevent.spawn(worker, i) for i in range(1, 6)]
gevent.joinall(jobs)
print('all done', flush=True)
