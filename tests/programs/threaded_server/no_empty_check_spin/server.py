import socket
import threading


def handler(conn):
    while True:
        try:
            data = conn.recv(1024)  # b'' at once, for ever, after the client closes
            conn.sendall(data.upper())  # no 'if not data: break'
        except ConnectionResetError:
            break
    conn.close()


sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)
while True:
    conn, addr = sk.accept()
    threading.Thread(target=handler, args=(conn,), daemon=True).start()
