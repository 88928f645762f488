"""Alerts: rules over the graph (engine, dated control), the evidence behind each hit, and
the alerts as records a reviewer works through (store)."""
