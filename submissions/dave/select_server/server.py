from socket import *
import select

s = socket(AF_INET, SOCK_STREAM)
s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
s.bind(('127.0.0.1', 9000))
s.listen(128)
rlist = [s]
while True:
    ready, _, _ = select.select(rlist, [], [])
    for r in ready:
        if r is s:
            c, a = s.accept()
            rlist.append(c)
        else:
            try:
                d = r.recv(1024)
                if d:
                    r.send(d.upper())
                else:
                    r.close()
            except ConnectionResetError:
                r.close()
