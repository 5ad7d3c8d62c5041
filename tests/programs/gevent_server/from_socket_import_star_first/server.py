from socket import *  # imported BEFORE patching: these names keep the original blocking socket

from gevent import monkey
monkey.patch_all()

import gevent


def handler(conn):
    while True:
        try:
            data = conn.recv(1024)
            if not data:
                break
            conn.sendall(data.upper())
        except ConnectionResetError:
            break
    conn.close()


sk = socket(AF_INET, SOCK_STREAM)
sk.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)
while True:
    conn, addr = sk.accept()
    gevent.spawn(handler, conn)
