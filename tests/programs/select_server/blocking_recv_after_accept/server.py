import select
import socket

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)

read_lst = [sk]
while True:
    r_lst, w_lst, x_lst = select.select(read_lst, [], [])
    for s in r_lst:
        if s is sk:
            conn, addr = sk.accept()
            try:
                data = conn.recv(1024)  # waits for the new client's first message: blocks everyone else
                conn.send(data.upper())
            except ConnectionResetError:
                conn.close()
                continue
            read_lst.append(conn)
            continue
        try:
            data = s.recv(1024)
            if data:
                s.send(data.upper())
                continue
        except ConnectionResetError:
            pass
        read_lst.remove(s)
        s.close()
