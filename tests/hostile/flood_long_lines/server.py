# Attack: output memory (issue 9 item 4). At start, 60 MiB on stdout as 128 KiB lines of undecodable \xff
# bytes (under the 64 MiB output limit, so the run is not stopped), then a correct server.
# Before: the grader kept every line decoded (each 128 KiB line became a 256 KiB str) and its session grew
# from 47 to 654 MiB. Expected outcome: every behaviour passes and the grader holds at most ~1.5 MiB of
# output per stream (head + tail <= 512 KiB each, timestamped lines <= 512 KiB).
import sys

line = b"\xff" * ((128 << 10) - 1) + b"\n"
for _ in range(480):
    sys.stdout.buffer.write(line)
sys.stdout.buffer.flush()

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
