"""Injected into a submission only when its spec sets options.windows_accept_inherits_nonblocking.

Emulates Windows: a socket returned by accept() inherits the listener's nonblocking mode. On Linux it is
blocking, which freezes lesson-style servers that forget conn.setblocking(False). This file is trusted
grader code running inside the submission's sandbox; it changes nothing else.
"""

import os
import socket

if os.environ.get("GRADER_WINDOWS_ACCEPT") == "1":
    _accept = socket.socket.accept

    def accept(self):
        conn, addr = _accept(self)
        if self.gettimeout() == 0.0:  # the listener is nonblocking
            conn.setblocking(False)
        return conn, addr

    socket.socket.accept = accept
