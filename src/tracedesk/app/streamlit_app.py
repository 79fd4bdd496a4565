"""Entry point for `streamlit run` from an installed package (what `tracedesk app` runs)."""
from tracedesk.app.main import run

run()
