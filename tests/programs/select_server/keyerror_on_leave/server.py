# As students write it (host/port adapted): a leaving client is closed first, then looked up by its fd in the
# bookkeeping dict; after close() fileno() is -1, so the first client that leaves (closes or resets) kills the
# server with a KeyError.
import select
import socket

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)

clients = {}  # fd -> address
read_lst = [sk]


def drop(s):
    read_lst.remove(s)
    s.close()
    print('bye', clients.pop(s.fileno()))


while True:
    r_lst, w_lst, x_lst = select.select(read_lst, [], [])
    for s in r_lst:
        if s is sk:
            conn, addr = sk.accept()
            clients[conn.fileno()] = addr
            read_lst.append(conn)
            continue
        try:
            data = s.recv(1024)
        except ConnectionError:
            data = b''
        if not data:
            drop(s)
            continue
        try:
            s.sendall(data.upper())
        except ConnectionError:
            drop(s)
