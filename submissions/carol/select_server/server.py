# echo server with select.poll
import select
import socket

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(64)

p = select.poll()
p.register(sk, select.POLLIN)
by_fd = {}
while True:
    for fd, ev in p.poll():
        if fd == sk.fileno():
            c, a = sk.accept()
            by_fd[c.fileno()] = c
            p.register(c, select.POLLIN)
            continue
        c = by_fd[fd]
        try:
            data = c.recv(1024)
            if data:
                c.sendall(data.upper())
                continue
        except ConnectionResetError:
            pass
        p.unregister(fd)
        del by_fd[fd]
        c.close()
