import socket
from concurrent.futures import ThreadPoolExecutor


def chat(conn):
    with conn:
        while True:
            try:
                data = conn.recv(1024)
                if not data:
                    break
                conn.sendall(data.upper())
            except ConnectionResetError:
                break


sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)
with ThreadPoolExecutor(max_workers=50) as pool:
    while True:
        conn, addr = sk.accept()
        pool.submit(chat, conn)
