"""A synthetic world of Chinese regulatory extracts with the ground truth behind them.

veil is tested and benchmarked against it: the extracts are as awkward as real agency
files (own headers, encodings, name variants, broken rows) and the truth says what the
loader, linkage and graph rooms should have found. Entry point: world.generate.
"""
