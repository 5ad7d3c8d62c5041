# Not an attack: a correct server that prints about 1 MB/s the whole time (students print on every poll).
# Expected outcome (every tier): both behaviours pass; printing is not a failure (DESIGN.md principle 4).
import sys
import threading
import time


def chatter():
    line = "select woke up: 1 ready of 2 " + "." * 70 + "\n"
    while True:
        sys.stdout.write(line * 1000)  # 100 kB
        time.sleep(0.1)


threading.Thread(target=chatter, daemon=True).start()

def serve(reply=bytes.upper, on_data=None):
    """A correct select() echo server on 127.0.0.1:9000 (reply=bytes.lower makes it wrong)."""
    import select
    import socket
    sk = socket.socket()
    sk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sk.bind(("127.0.0.1", 9000))
    sk.listen(64)
    conns = [sk]
    while True:
        for s in select.select(conns, [], [])[0]:
            if s is sk:
                conns.append(sk.accept()[0])
                continue
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                conns.remove(s)
                s.close()
                continue
            if on_data:
                on_data(data)
            s.sendall(reply(data))


serve()
