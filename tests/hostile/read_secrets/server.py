# Attack: read what it must not: hidden tests and reference solutions of the course, the grader's own
# source, the parent's and pid 1's /proc entries (environ, cmdline), every readable /proc/*/environ, its own
# environment, /etc/shadow. The test puts a fake secret in the grader's environment (its name contains
# SECRET) and names the course's files in targets.json. Then it serves correctly.
# Expected outcome: tier A: every read of the course's and grader's files fails (ENOENT), /etc/shadow too,
# only its own namespace's /proc entries are there, no SECRET anywhere; both behaviours pass.
import json
import os

targets = json.load(open("targets.json")) if os.path.exists("targets.json") else {}
found = []


def look(where, data):
    if b"SECRET" in data:
        found.append(where)


for p in targets.get("read", []) + ["/etc/shadow"]:
    try:
        with open(p, "rb") as fh:
            look(p, fh.read())
        print("READ", p)
    except OSError as exc:
        print("DENIED", p, exc.errno)
environs = []
for pid in [d for d in os.listdir("/proc") if d.isdigit()][:5000]:
    for name in ("environ", "cmdline"):
        try:
            with open(f"/proc/{pid}/{name}", "rb") as fh:
                look(f"/proc/{pid}/{name}", fh.read())
            environs.append(f"{pid}/{name}")
        except OSError:
            pass
look("os.environ", repr(os.environ).encode())
print("PROC", environs[:20], "PPID", os.getppid())
print("ENV", sorted(os.environ))
print("FOUND-SECRET" if found else "NO-SECRET", found[:5], flush=True)


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
