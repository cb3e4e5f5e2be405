"""Benchmarks (`make bench`): every figure a ratio against a reference measured in the same run."""

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
for _path in (_ROOT / "layers" / "shared", _ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
