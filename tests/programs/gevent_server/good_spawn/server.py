from gevent import monkey;monkey.patch_all()
import socket
import gevent


def talk(conn):
    while True:
        try:
            msg = conn.recv(1024)
            if not msg:
                break
            conn.send(msg.upper())
        except ConnectionResetError:
            break
    conn.close()


sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)
while True:
    conn, addr = sk.accept()  # patched: waits without blocking the other greenlets
    g = gevent.spawn(talk, conn)
