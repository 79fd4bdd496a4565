"""tracedesk: `streamlit run app.py` from a checkout (the app itself lives in src/tracedesk/app/)."""
from tracedesk.app.main import run

run()
