# select.epoll (Linux only): the kernel keeps the interest list, epoll.poll() returns ready fds.
import select
import socket

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)
sk.setblocking(False)

ep = select.epoll()
ep.register(sk.fileno(), select.EPOLLIN)
conns = {}

while True:
    for fd, event in ep.poll():
        if fd == sk.fileno():
            conn, addr = sk.accept()
            conn.setblocking(False)
            conns[conn.fileno()] = conn
            ep.register(conn.fileno(), select.EPOLLIN)
            continue
        conn = conns[fd]
        try:
            data = conn.recv(1024)
            if data:
                conn.send(data.upper())
                continue
        except (BlockingIOError, InterruptedError):
            continue
        except ConnectionError:
            pass
        ep.unregister(fd)
        del conns[fd]
        conn.close()
