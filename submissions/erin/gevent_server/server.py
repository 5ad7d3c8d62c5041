from gevent import monkey
monkey.patch_all
import socket
import gevent


def handle(conn):
    while True:
        try:
            data = conn.recv(1024)
            if not data:
                break
            conn.sendall(data.upper())
        except ConnectionResetError:
            break
    conn.close()


server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 9000))
server.listen(128)
while True:
    conn, addr = server.accept()
    gevent.spawn(handle, conn)
