# Mistake: binds the wrong port (127.0.0.1:9001 instead of :9000).
# Expected outcome (every tier): both behaviours fail with reason never_listened, and the message says where
# it listens instead.
import socket
import time

sk = socket.socket()
sk.bind(("127.0.0.1", 9001))
sk.listen()
time.sleep(60)
