"""Build hook: ship the Streamlit app (app.py + pages/) inside the package as `tracedesk/webapp/`.

app.py and pages/ stay at the repository root (where `streamlit run app.py` expects them); this copies
them into the wheel so `tracedesk demo` can run the app after a plain, non-editable `pip install`.
All metadata lives in pyproject.toml.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithApp(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "tracedesk" / "webapp"
        sources = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
        for src in sources:
            if src.is_file():
                dest = target / src.relative_to(ROOT)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)


setup(cmdclass={"build_py": BuildPyWithApp})
