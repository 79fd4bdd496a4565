"""Labelled weeks of traffic written independently of tracedesk's own sample generator (acceptance data)."""
