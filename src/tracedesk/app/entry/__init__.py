"""The Streamlit entry script of an installed tracedesk (`tracedesk app` runs entry/streamlit_app.py).

It sits in a folder of its own on purpose: Streamlit checks, once per server, whether a `pages/` folder is
next to the main script and, if so, runs the first session's first script run as an old-style multipage
app built from that folder. Next to `app/pages/` that first run could not find a deep link such as
`/Trace?trace_id=...` and covered the page with a "Page not found" dialog.
"""
