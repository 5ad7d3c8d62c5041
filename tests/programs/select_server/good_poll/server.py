# select.poll: register file descriptors, poll() returns (fd, event) pairs.
import select
import socket

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)

poller = select.poll()
poller.register(sk, select.POLLIN)
conns = {}  # fd -> socket

while True:
    for fd, event in poller.poll():  # no timeout: sleep until an event
        if fd == sk.fileno():
            conn, addr = sk.accept()
            conns[conn.fileno()] = conn
            poller.register(conn, select.POLLIN)
            continue
        conn = conns[fd]
        try:
            data = conn.recv(1024)
            if data:
                conn.sendall(data.upper())
        except ConnectionResetError:  # also from sendall: data then RST
            data = b''
        if not data:
            poller.unregister(fd)
            del conns[fd]
            conn.close()
