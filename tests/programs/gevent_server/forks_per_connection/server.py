# Runs two do-nothing greenlets at start (so greenlets "ran"), then serves every connection in a forked
# process with socketserver.ForkingTCPServer (which imports threading itself, not the student's code).
from gevent import monkey
monkey.patch_all()

import gevent
import socketserver

gevent.joinall([gevent.spawn(lambda: None), gevent.spawn(lambda: None)])


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            try:
                data = self.request.recv(1024)
            except ConnectionError:
                return
            if not data:
                return
            try:
                self.request.sendall(data.upper())
            except ConnectionError:
                return


socketserver.ForkingTCPServer.allow_reuse_address = True
socketserver.ForkingTCPServer.request_queue_size = 128
with socketserver.ForkingTCPServer(('127.0.0.1', 9000), Handler) as server:
    server.serve_forever()
