"""The Streamlit app: the only package that imports streamlit.

`main.run()` builds the navigation over `home.py` and `pages/*.py`; every page is a thin script over the
Workspace and `ui`. The repository's `app.py` and `entry/streamlit_app.py` here are two-line entry points.
"""
