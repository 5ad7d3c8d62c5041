import socket

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.setblocking(False)  # set the socket to non-blocking
sk.listen()
conn_lst = []  # connections that are alive
del_lst = []   # connections to delete
while True:
    try:
        conn, addr = sk.accept()
        print(conn, addr)
        conn_lst.append(conn)
    except BlockingIOError as e:
        for conn in conn_lst:
            try:
                msg = conn.recv(1024)
                if not msg:
                    conn.close()
                    del_lst.append(conn)
                    continue
                print(msg)
                msg = msg.decode('utf-8').upper()
                conn.send(msg.encode('utf-8'))
            except BlockingIOError:
                pass
            except ConnectionResetError:
                conn.close()
                del_lst.append(conn)
    for conn in del_lst:
        conn_lst.remove(conn)
    del_lst.clear()
