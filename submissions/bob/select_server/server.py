import select
import socket

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen()

inputs = [sk]
while True:
    r, w, e = select.select(inputs, [], [], 0)   # don't wait, check again
    for s in r:
        if s == sk:
            conn, addr = sk.accept()
            inputs.append(conn)
        else:
            try:
                msg = s.recv(1024)
                if msg:
                    s.send(msg.upper())
                else:
                    inputs.remove(s)
                    s.close()
            except ConnectionResetError:
                inputs.remove(s)
                s.close()
