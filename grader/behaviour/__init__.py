"""Grading one behaviour: run its check on a fresh sandboxed instance of the submission, within its time
budget, regrade once when the machine was too busy to judge, and explain a failure (docs/layout.md).

    engine.py     grade_behaviour(): the check, the deadlines, the regrade policy, the BehaviourResult
    diagnose.py   what the run's last snapshot says about a failure (blocked in accept, crashed, ...)
"""
