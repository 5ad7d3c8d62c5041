import select
import socket

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)

clients = {}  # fd -> socket
read_lst = [sk]
while True:
    r_lst, w_lst, x_lst = select.select(read_lst, [], [])
    for s in r_lst:
        if s is sk:
            conn, addr = sk.accept()
            clients[conn.fileno()] = conn
            read_lst.append(conn)
            continue
        try:
            data = s.recv(1024)
            if data:
                s.sendall(data.upper())
                continue
        except ConnectionError:
            read_lst.remove(s)
            s.close()
            # after close() fileno() is -1: KeyError, not a client's fault
            del clients[s.fileno()]
            continue
        read_lst.remove(s)
        del clients[s.fileno()]
        s.close()
