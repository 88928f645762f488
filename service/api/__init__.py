"""veil's HTTP API (issue 15): the same room functions as the CLI, behind API keys, with
every request about a person or company in the audit chain."""
