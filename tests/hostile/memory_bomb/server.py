# Attack: memory bomb, BOUNDED (one 1 GiB allocation), triggered by the 1024-byte message only.
# Expected outcome: the 'big' behaviour fails with reason memory_limit (tier A: the cgroup's OOM kill at
# 256 MiB; tiers B/C: RSS polling); 'small' passes; a concurrent good submission gets full marks.
hoard = []


def maybe_bomb(data):
    if len(data) >= 1000:
        hoard.append(b"\1" * (1 << 30))  # one memset: every page touched, as fast as it gets

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


serve(on_data=maybe_bomb)
