from socket import *
from threading import Thread

online = {}


def talk(c):
    while True:
        try:
            d = c.recv(1024)
        except ConnectionResetError:
            break
        if not d:
            break
        c.send(d.upper())
    print(online[c], 'is offline')


s = socket(AF_INET, SOCK_STREAM)
s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
s.bind(('127.0.0.1', 9000))
s.listen(128)
while True:
    c, a = s.accept()
    online[c] = a
    Thread(target=talk, args=(c,), daemon=True).start()
