import socket
from concurrent.futures import ThreadPoolExecutor


def handler(conn):
    while True:
        data = conn.recv(1024)  # ConnectionResetError is not caught
        if not data:
            break
        conn.sendall(data.upper())
    conn.close()


sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)
pool = ThreadPoolExecutor(max_workers=64)
running = []
while True:
    conn, addr = sk.accept()
    running.append(pool.submit(handler, conn))
    for f in [f for f in running if f.done()]:
        f.result()  # re-raises a finished handler's ConnectionResetError here, in the accept loop
        running.remove(f)
