# gevent_server reference: one greenlet per connection; patched sockets switch greenlets on I/O.
# ruff: noqa: E402, I001 -- monkey.patch_all() has to run before the other imports
from gevent import monkey
monkey.patch_all()  # first, before socket is imported

import socket

import gevent


def handler(conn):
    try:
        while True:
            data = conn.recv(1024)  # yields to other greenlets while waiting
            if not data:  # the client closed the connection
                break
            conn.sendall(data.upper())
    except ConnectionError:  # reset by the client
        pass
    finally:
        conn.close()


sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)
while True:
    conn, addr = sk.accept()
    gevent.spawn(handler, conn)
