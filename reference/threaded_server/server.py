# threaded_server reference: blocking sockets, one thread per connection.
import socket
import threading


def handler(conn):
    try:
        while True:
            data = conn.recv(1024)  # blocks only this thread
            if not data:  # the client closed the connection
                break
            conn.sendall(data.upper())
    except ConnectionError:  # reset by the client
        pass
    finally:
        conn.close()  # and the thread ends here


sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)
while True:
    conn, addr = sk.accept()
    threading.Thread(target=handler, args=(conn,), daemon=True).start()
