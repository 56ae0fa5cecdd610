"""MkDocs hooks for the curvsym site (named in mkdocs.yml; never imported by the package).

* The notebooks live in ``notebooks/`` at the repository root, outside ``docs/``.  They are added to
  the site as ``notebooks/<name>.ipynb``: the executed copy in ``build/notebooks/`` when one exists
  (``python docs/execute_notebooks.py`` writes them), else the notebook as committed.  mkdocs-jupyter
  renders either without executing anything.
* Pages that other work adds to ``docs/`` (``guarantees.md``, ``conservation_laws.md``) join the nav
  under *Concepts* as soon as they exist, so the nav never names a missing file and never omits them.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
EXECUTED = ROOT / "build" / "notebooks"
SOURCES = ROOT / "notebooks"
OPTIONAL_PAGES = {"guarantees.md": "Guarantees", "conservation_laws.md": "Conservation laws"}


def on_config(config):
    docs = Path(config["docs_dir"])
    present = [{title: name} for name, title in OPTIONAL_PAGES.items() if (docs / name).exists()]
    for section in config["nav"] or []:
        if isinstance(section, dict) and "Concepts" in section:
            listed = {next(iter(e.values())) for e in section["Concepts"] if isinstance(e, dict)}
            section["Concepts"].extend(e for e in present if next(iter(e.values())) not in listed)
    return config


@event_priority(100)  # before mkdocs-jupyter turns .ipynb files into pages
def on_files(files, config):
    for source in sorted(SOURCES.glob("*.ipynb")):
        path = f"notebooks/{source.name}"   # relative to the repository root and to build/
        root = EXECUTED.parent if (EXECUTED / source.name).exists() else ROOT
        if files.get_file_from_path(path) is None:
            files.append(File(path, str(root), config["site_dir"], config["use_directory_urls"]))
    return files
