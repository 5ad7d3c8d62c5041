from gevent import monkey
monkey.patch_all()

import time

import gevent


def say(text):
    # Written in two pieces with a yield between them, like print() from threads that run at once: the
    # workers' outputs interleave ('worker 1 doneworker 2 done' and then the newlines).
    print(text, end='', flush=True)
    gevent.sleep(0)
    print(flush=True)


def worker(n):
    say(f'worker {n} start')
    time.sleep(0.5)
    say(f'worker {n} done')


gevent.joinall([gevent.spawn(worker, n) for n in range(1, 6)])
print('all done', flush=True)
