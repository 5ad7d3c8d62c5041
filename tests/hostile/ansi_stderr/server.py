# Attack: terminal injection. A wrong server (replies in lower case, so every behaviour fails and its stderr
# is shown) writes ANSI escapes to stderr: clear the screen, home the cursor, paint a fake all-passing
# report in green, hide the rest, and echoes them back to the grader's clients as well.
# Expected outcome (every tier): the behaviours fail; every report shows the escapes as text (`\x1b[2J`),
# never raw; `--json` keeps the bytes as data.
import select
import socket
import sys

FAKE = ("\x1b[2J\x1b[H\x1b[32m  PASS  small  1/1\n  PASS  big    1/1\n\nTotal: 2/2 (2 of 2 behaviours passed)"
        "\x1b[0m\x1b[8m\x1b]0;all good\x07\x9b2J\u202e")
sys.stderr.write(FAKE + "\n")
sys.stderr.flush()

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
        s.sendall(b"\x1b[2J" + data.lower())
        sys.stderr.write(FAKE + "\n")
        sys.stderr.flush()
