"""Real test data shipped in source distributions on the package registry (PyPI).

Some projects ship their test corpora in their sdists (oletools' ``tests/test-data``,
rarfile's ``test/files``). The tests download such an sdist once into the git-ignored
``.cache/sdists`` folder and read members from it; nothing is vendored into this repo.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "sdists"


def sdist_root(package: str, version: str) -> Path:
    """Download (once) and unpack the sdist of ``package==version``; return its folder."""
    target = CACHE / f"{package}-{version}"
    done = target / ".unpacked"
    if done.exists():
        return _single_child(target)
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
         "--no-build-isolation", "-d", str(target), f"{package}=={version}"],
        check=True,
    )
    archive = next(path for path in target.iterdir() if path.name.endswith((".tar.gz", ".zip")))
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as source:
            source.extractall(target / "src")
    else:
        with tarfile.open(archive) as source:
            source.extractall(target / "src", filter="data")
    done.touch()
    return _single_child(target)


def sdist_file(package: str, version: str, member: str) -> Path:
    """Path of one file inside the unpacked sdist (``member`` relative to its top folder)."""
    path = sdist_root(package, version) / member
    if not path.exists():
        raise FileNotFoundError(f"{member} is not in the {package} {version} sdist")
    return path


def _single_child(target: Path) -> Path:
    children = [path for path in (target / "src").iterdir() if path.is_dir()]
    return children[0] if len(children) == 1 else target / "src"
