# gevent.server.StreamServer accepts in a loop and spawns handle(conn, addr) in a new greenlet.
from gevent import monkey
monkey.patch_all()

from gevent.server import StreamServer


def handle(conn, addr):
    with conn:
        while True:
            try:
                data = conn.recv(1024)
                if not data:
                    break
                conn.sendall(data.upper())
            except ConnectionResetError:
                break


server = StreamServer(('127.0.0.1', 9000), handle, backlog=128)  # sets SO_REUSEADDR itself
server.serve_forever()
