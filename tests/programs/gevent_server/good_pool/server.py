# An accept loop that hands every connection to a gevent.pool.Pool (at most 100 handler greenlets at once).
from gevent import monkey
monkey.patch_all()

import socket

from gevent.pool import Pool


def handle(conn):
    try:
        while True:
            data = conn.recv(1024)
            if not data:
                break
            conn.sendall(data.upper())
    except ConnectionError:
        pass
    finally:
        conn.close()


pool = Pool(100)
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(('127.0.0.1', 9000))
server.listen(128)
while True:
    conn, addr = server.accept()
    pool.spawn(handle, conn)
