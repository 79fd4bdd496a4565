"""Entry point for `streamlit run` from an installed package (what `tracedesk app` runs); see __init__ for
why it is in a folder with no `pages/` beside it."""
from tracedesk.app.main import run

run()
