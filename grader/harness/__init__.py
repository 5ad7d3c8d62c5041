"""What a check drives a submission with (docs/layout.md): the harness below the checks.

    context.py    Context: the submission, its spec and parameters, `start()` a run, clients, snapshots
    client.py     reference clients (echo exchanges, transcripts) that fail with what they saw
    evidence.py   the grader's observer's records from inside the run, and the readiness-wait sampling
"""
