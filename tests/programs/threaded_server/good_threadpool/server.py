# A pool of threads: each connection is a task; the thread goes back to the pool when the client leaves.
import socket
from concurrent.futures import ThreadPoolExecutor


def handler(conn):
    with conn:
        while True:
            try:
                data = conn.recv(1024)
                if not data:
                    return
                conn.sendall(data.upper())
            except ConnectionError:
                return


pool = ThreadPoolExecutor(max_workers=64)  # more than the clients we expect at once
sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)
while True:
    conn, addr = sk.accept()
    pool.submit(handler, conn)
