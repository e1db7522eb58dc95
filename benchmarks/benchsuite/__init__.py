"""
The benchmark runner's own modules: systems, workloads, processes, the table.
Not part of eventd, and not shipped with it.
"""
