from socket import *

sk = socket(AF_INET, SOCK_STREAM)
sk.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(5)
sk.setblocking(False)

conn_lst = []
del_lst = []
while True:
    try:
        conn, addr = sk.accept()  # blocking on Linux: no conn.setblocking(False) (fine on Windows)
        conn_lst.append(conn)
    except BlockingIOError:
        for conn in conn_lst:
            try:
                msg = conn.recv(1024)
                if msg:
                    conn.send(msg.upper())
                else:
                    conn.close()
                    del_lst.append(conn)
            except BlockingIOError:
                pass
            except ConnectionError:
                conn.close()
                del_lst.append(conn)
        for conn in del_lst:
            conn_lst.remove(conn)
        del_lst.clear()
