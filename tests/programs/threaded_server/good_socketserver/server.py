# socketserver.ThreadingTCPServer: a thread per connection, listen(5) (its request_queue_size).
import socketserver


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            try:
                data = self.request.recv(1024)
            except ConnectionResetError:
                break
            if not data:
                break
            self.request.sendall(data.upper())


socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer.daemon_threads = True
with socketserver.ThreadingTCPServer(('127.0.0.1', 9000), Echo) as server:
    server.serve_forever()
