import select
import socket

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 9000))
server.listen(128)

sockets = [server]
while True:
    readable, writable, errored = select.select(sockets, [], [])
    for sock in readable:
        if sock is server:
            conn, addr = server.accept()
            sockets.append(conn)
        else:
            data = sock.recv(1024)
            if data:
                sock.send(data.upper())
            else:
                sockets.remove(sock)
                sock.close()
