# Attack: stderr flood from the start (BOUNDED at 1 GiB), before it ever listens.
# Expected outcome (every tier): both behaviours fail with reason output_limit (killed after 64 MiB).
import os

chunk = b"E" * 65536
for _ in range(1 << 14):
    os.write(2, chunk)
