"""`grader mutants`: grade mutants of a reference solution to see which mistakes an assignment's spec catches.

    operators.py   the mistakes, one small function each (its docstring says which student mistake it models)
    generate.py    every mutant of a source: apply each operator at each site, drop duplicates and mutants
                   trivially equal to the original (normalised AST, then bytecode), set syntax errors apart
    equivalent.py  the reviewed list of equivalent mutants in assignments/<name>/equivalent-mutants.yaml
    grade.py       write the mutants as a batch and grade them with the batch backend (parallel, resumable,
                   Dask too); a status per mutant from its results
    report.py      JSON, the kill matrix in the terminal, Markdown and HTML
"""
