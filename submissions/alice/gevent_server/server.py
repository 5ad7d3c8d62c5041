from gevent import monkey; monkey.patch_all()
import socket
import gevent


def serve(conn):
    try:
        while True:
            data = conn.recv(1024)
            if not data:
                break
            conn.sendall(data.upper())
    except ConnectionResetError:
        pass
    finally:
        conn.close()


server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(('127.0.0.1', 9000))
server.listen(100)
while True:
    conn, addr = server.accept()
    gevent.spawn(serve, conn)
