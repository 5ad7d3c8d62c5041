import select
import socket

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(('127.0.0.1', 9000))
server.listen(100)

watch = [server]
while True:
    readable, _, _ = select.select(watch, [], [])
    for s in readable:
        if s is server:
            conn, addr = server.accept()
            print('connected', addr)
            watch.append(conn)
            continue
        try:
            data = s.recv(1024)
            if data:
                s.send(data.upper())
                continue
        except ConnectionResetError:
            print('reset')
        watch.remove(s)
        s.close()
