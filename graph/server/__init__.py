"""The Neo4j server veil talks to: which one (`connection.neo4j_settings`), and veil's own
local instance (`jars`, `local`, `launcher/`, `admin_import`).

The lowest part of graph/: it knows Neo4j, not veil's graph model, and imports nothing else
from graph/ (an import-linter contract in pyproject.toml checks this).
"""
