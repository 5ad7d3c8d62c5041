# selectors.DefaultSelector picks epoll on Linux, kqueue on macOS, select on Windows.
import selectors
import socket

sel = selectors.DefaultSelector()


def accept(sk):
    conn, addr = sk.accept()
    conn.setblocking(False)
    sel.register(conn, selectors.EVENT_READ, read)


def read(conn):
    try:
        data = conn.recv(1024)
        if data:
            conn.send(data.upper())
    except ConnectionResetError:
        data = b''
    if not data:
        sel.unregister(conn)
        conn.close()


sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)
sk.setblocking(False)
sel.register(sk, selectors.EVENT_READ, accept)

while True:
    for key, mask in sel.select():
        callback = key.data
        callback(key.fileobj)
