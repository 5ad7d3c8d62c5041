import socket
import threading

clients = {}  # conn -> address, for the log


def handler(conn):
    while True:
        try:
            data = conn.recv(1024)
            if not data:
                break
            conn.sendall(data.upper())
        except ConnectionResetError:
            break
    print(clients[conn], 'left')  # conn.close() forgotten; clients{} keeps the socket object alive


sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)
while True:
    conn, addr = sk.accept()
    clients[conn] = addr
    threading.Thread(target=handler, args=(conn,), daemon=True).start()
