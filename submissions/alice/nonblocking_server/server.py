import socket

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(('127.0.0.1', 9000))
server.listen(100)
server.setblocking(False)

clients = []
while True:
    try:
        conn, addr = server.accept()
        conn.setblocking(False)   # Linux: accepted socket is blocking by default!
        clients.append(conn)
    except BlockingIOError:
        pass
    gone = []
    for c in clients:
        try:
            data = c.recv(1024)
            if not data:
                gone.append(c)
            else:
                c.send(data.upper())
        except BlockingIOError:
            pass
        except ConnectionResetError:
            gone.append(c)
    for c in gone:
        clients.remove(c)
        c.close()
