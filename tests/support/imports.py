"""What importing a function's handler loads, seen from a fresh interpreter (the cold start a Lambda pays)."""

from __future__ import annotations

import ast
import subprocess
import sys

from local.template import ROOT


def modules_loaded_by(function_dir: str, prefixes: tuple[str, ...]) -> set[str]:
    """The modules starting with one of `prefixes` that `import app` in `functions/<function_dir>` loads."""
    probe = (
        f"import sys; sys.path[:0] = ['layers/shared', 'functions/{function_dir}']; import app; "
        f"print(sorted(m for m in sys.modules if m.startswith({prefixes!r})))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(ast.literal_eval(result.stdout))
