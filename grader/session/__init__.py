"""The two halves of a grading session: one pytest process per (submission, assignment) (docs/layout.md).

    runner.py     the parent's half: start the session, collect one JSON line per behaviour, lose nothing
    plugin.py     the child's half, a pytest plugin: one item per behaviour, graded by grader.behaviour
    pytest.ini    the session's own pytest config (passed with -c: a project's settings never leak in)
"""
