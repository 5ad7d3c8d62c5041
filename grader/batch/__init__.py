"""Batch grading for instructors: a whole class, in parallel, resumable (`grader grade`).

    discover.py    submissions by the course's folder layout
    journal.py     append-only record of finished runs (what makes a batch resumable)
    scheduler.py   worker threads, each driving one run at a time through an injected grading call; Ctrl-C
    gate.py        the start gate: when the next run may start on this machine
    local.py       the local backend: a grading session per run, on this machine (the default)
    cluster.py     the Dask backend (--cluster): a task per run; remote.py is its worker side, pack.py
                   carries submissions as bytes
    tether.py      pytest plugin: a batch's grading session ends when the batch dies
    outputs.py     per-run results.json + feedback.md, gradebook, class reports
    progress.py    progress bar / plain lines
    controller.py  discover → plan → schedule → journal → outputs
"""
