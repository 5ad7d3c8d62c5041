# select_server reference: one thread, select() tells which sockets are ready.
import select
import socket

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)

read_lst = [sk]  # the listener plus every connected client
while True:
    r_lst, w_lst, x_lst = select.select(read_lst, [], [])  # sleeps until something happens
    for s in r_lst:
        if s is sk:  # the listener is readable: a client is waiting to connect
            conn, addr = sk.accept()
            read_lst.append(conn)
            continue
        try:
            data = s.recv(1024)
            if data:
                s.send(data.upper())
                continue
        except ConnectionError:  # reset by the client
            pass
        # b'' (client closed) or reset: forget it and close our end
        read_lst.remove(s)
        s.close()
