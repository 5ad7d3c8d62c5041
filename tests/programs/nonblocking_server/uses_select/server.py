import select
import socket

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)
sk.setblocking(False)

conn_lst = []
while True:
    r_lst, w_lst, x_lst = select.select([sk] + conn_lst, [], [])  # select is the next assignment
    for s in r_lst:
        if s is sk:
            conn, addr = sk.accept()
            conn.setblocking(False)
            conn_lst.append(conn)
            continue
        try:
            data = s.recv(1024)
            if data:
                s.send(data.upper())
                continue
        except (BlockingIOError, ConnectionResetError):
            pass
        conn_lst.remove(s)
        s.close()
