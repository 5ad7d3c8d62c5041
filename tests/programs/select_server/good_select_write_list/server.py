# select with a write list: replies wait in a per-connection queue until the socket is writable.
import queue
import select
import socket

sk = socket.socket()
sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sk.bind(('127.0.0.1', 9000))
sk.listen(128)
sk.setblocking(False)

inputs = [sk]
outputs = []
msg_queues = {}


def drop(conn):
    if conn in outputs:
        outputs.remove(conn)
    inputs.remove(conn)
    del msg_queues[conn]
    conn.close()


while True:
    readable, writable, exceptional = select.select(inputs, outputs, inputs)
    for s in readable:
        if s is sk:
            conn, addr = s.accept()
            conn.setblocking(False)
            inputs.append(conn)
            msg_queues[conn] = queue.Queue()
            continue
        try:
            data = s.recv(1024)
        except ConnectionResetError:
            data = b''
        if data:
            msg_queues[s].put(data.upper())
            if s not in outputs:
                outputs.append(s)
        else:
            drop(s)
    for s in writable:
        if s not in msg_queues:  # dropped above in this round
            continue
        try:
            s.send(msg_queues[s].get_nowait())
        except queue.Empty:
            outputs.remove(s)
        except ConnectionError:
            drop(s)
    for s in exceptional:
        if s in msg_queues:
            drop(s)
