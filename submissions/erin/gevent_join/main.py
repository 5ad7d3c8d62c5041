from gevent import monkey
monkey.patch_all()
import gevent


def worker(n):
    print(f"worker {n} start", flush=True)
    gevent.sleep(0.5)
    print(f"worker {n} done", flush=True)


greenlets = []
for n in range(1, 6):
    greenlets.append(gevent.spawn(worker, n))
for g in greenlets:
    g.join()
print("all done", flush=True)
