# Correct select server that prints on every wake-up (students do this); printing is not a bug.
import select
import socket

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)

read_lst = [sk]
while True:
    r_lst, w_lst, x_lst = select.select(read_lst, [], [])
    print('select woke up:', len(r_lst), 'ready of', len(read_lst), read_lst)
    for s in r_lst:
        if s is sk:
            conn, addr = sk.accept()
            print('new connection from', addr)
            read_lst.append(conn)
        else:
            try:
                data = s.recv(1024)
                if data:
                    print('got', data)
                    s.send(data.upper())
            except ConnectionResetError:
                print('reset by peer:', s)
                data = b''
            if not data:
                print('client left:', s)
                read_lst.remove(s)
                s.close()
