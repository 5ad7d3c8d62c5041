# gevent.server.StreamServer without monkey.patch_all(): nothing needs patching, StreamServer uses gevent's
# own cooperative sockets and runs handle(conn, addr) in a new greenlet per connection.
from gevent.server import StreamServer


def handle(conn, addr):
    with conn:
        while True:
            try:
                data = conn.recv(1024)
            except ConnectionError:
                break
            if not data:
                break
            try:
                conn.sendall(data.upper())
            except ConnectionError:
                break


StreamServer(('127.0.0.1', 9000), handle, backlog=128).serve_forever()
