from socket import *
import time

s = socket(AF_INET, SOCK_STREAM)
s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
s.bind(('127.0.0.1', 9000))
s.listen(128)
s.setblocking(False)
conns = []
while True:
    try:
        c, a = s.accept()
        c.setblocking(False)
        conns.append(c)
    except BlockingIOError:
        pass
    for c in conns[:]:
        try:
            d = c.recv(1024)
            if d:
                c.send(d.upper())
            else:
                conns.remove(c)
                c.close()
        except BlockingIOError:
            pass
        except ConnectionResetError:
            conns.remove(c)
            c.close()
    time.sleep(0.001)
