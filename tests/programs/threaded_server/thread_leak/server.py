import socket
import threading
import time


def handler(conn):
    while True:
        try:
            data = conn.recv(1024)
        except OSError:  # reset... and also 'Bad file descriptor' once conn is closed
            time.sleep(0.5)  # "try again later"
            continue
        if not data:
            conn.close()
            continue  # should be break: the thread never ends, it retries a closed socket for ever
        conn.sendall(data.upper())


sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)
while True:
    conn, addr = sk.accept()
    threading.Thread(target=handler, args=(conn,), daemon=True).start()
