# Attack: disk fill, BOUNDED (at most 64 MiB per place): its cwd, /tmp, /dev/shm, /var/tmp, $HOME and /.
# Expected outcome: tier A: EROFS for the submission folder and /, ENOSPC after 16 MiB of /tmp and 1 MiB of
# /dev/shm, EFBIG at the 16 MiB file-size limit; the host's disk is unchanged; both behaviours pass.
import os

block = b"\0" * (1 << 20)
for d in (".", "/tmp", "/dev/shm", "/var/tmp", os.environ.get("HOME", "/tmp"), "/"):
    path = os.path.join(d, "HOSTILE-MARKER-fill")
    written = 0
    try:
        with open(path, "wb") as fh:
            for _ in range(64):
                fh.write(block)
                fh.flush()
                written += 1
        print("FILLED", path, written, "MiB")
    except OSError as exc:
        print("STOPPED", path, written, "MiB", type(exc).__name__, exc.errno)
    try:
        os.unlink(path)
    except OSError:
        pass
print("done filling", flush=True)

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
