"""Control arithmetic over a holdings table: pure functions, no database, no I/O.

holdings (the table and the one rule it must meet) <- look_through (the numeric engine,
beneficial owners) <- controllers (actual controllers, the batch `control_analysis`) and
paths (the simple paths behind a figure) <- one_company (one company's control from a few
rows, for an interactive query). graph.analysis reads and writes Neo4j around them.
"""
