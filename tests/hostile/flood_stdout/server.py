# Attack: stdout flood (BOUNDED at 1 GiB), triggered by the 1024-byte message only.
# Expected outcome (every tier): 'big' fails with reason output_limit (killed after 64 MiB); 'small' passes;
# the grader keeps only the head and tail (1 MiB), so its memory stays bounded.
import sys

lines = ("x" * 1023 + "\n") * 64  # 64 KiB per write


def maybe_flood(data):
    if len(data) >= 1000:
        for _ in range(1 << 14):
            sys.stdout.write(lines)

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


serve(on_data=maybe_flood)
