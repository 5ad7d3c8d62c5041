"""Batch grading for instructors: a whole class, in parallel, resumable (`grader grade`).

    discover.py    submissions by the course's folder layout
    journal.py     append-only record of finished runs (what makes a batch resumable)
    scheduler.py   worker threads, each driving one grading session at a time; Ctrl-C handling
    tether.py      pytest plugin: a batch's grading session ends when the batch dies
    outputs.py     per-run results.json + feedback.md, gradebook, class reports
    progress.py    progress bar / plain lines
    controller.py  discover → plan → schedule → journal → outputs
"""
