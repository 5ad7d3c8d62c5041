# Real student code (host/port adapted): the handler answers the first message and closes the connection.
# Every client is served concurrently, once; a second message on a connection gets nothing (echo's bug).
from gevent import monkey
monkey.patch_all()

import gevent
import socket


def handle(conn, addr):
    try:
        data = conn.recv(1024)
        if data:
            conn.send(data.upper())
    except ConnectionError:
        pass
    conn.close()


server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(('127.0.0.1', 9000))
server.listen(128)
while True:
    conn, addr = server.accept()
    gevent.spawn(handle, conn, addr)
