# Attack: fake results. Prints "ALL TESTS PASSED", a Gradescope-style results JSON and a line shaped like the
# grading session's own result stream, on stdout and stderr, then serves a WRONG echo (lower-case).
# Expected outcome (every tier): both behaviours fail on what the grader's clients received; the lies only
# show up, escaped, in the captured output.
import json
import sys

lie = {"score": 100, "tests": [{"name": n, "score": 1, "max_score": 1, "status": "passed"} for n in ("small", "big")]}
for stream in (sys.stdout, sys.stderr):
    print("ALL TESTS PASSED 2/2", file=stream)
    print(json.dumps(lie), file=stream)
    for bid in ("small", "big"):
        print(json.dumps({"event": "behaviour", "result": {"id": bid, "status": "passed", "score": 1.0,
                                                          "max_score": 1.0}}), file=stream)
    stream.flush()

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


serve(reply=bytes.lower)
