# nonblocking_server reference: one thread, nonblocking sockets, polling loop (no select).
import socket

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)
sk.setblocking(False)

conn_lst = []  # connected clients
while True:
    try:
        conn, addr = sk.accept()
        conn.setblocking(False)  # on Linux an accepted socket is blocking, whatever the listener is
        conn_lst.append(conn)
    except BlockingIOError:
        pass  # nobody is waiting to connect

    del_lst = []  # can't remove from conn_lst while looping over it
    for conn in conn_lst:
        try:
            data = conn.recv(1024)
        except BlockingIOError:
            continue  # no data from this client yet
        except ConnectionError:  # reset by the client (ConnectionResetError) and friends
            del_lst.append(conn)
            continue
        if not data:  # b'': the client closed the connection
            del_lst.append(conn)
            continue
        try:
            conn.send(data.upper())
        except ConnectionError:
            del_lst.append(conn)

    for conn in del_lst:
        conn_lst.remove(conn)
        conn.close()
