"""Configuration: every variable the template hands a function is read in one place, typed and checked
there, and a setting a function needs but was not given is an error that names it."""

from __future__ import annotations

import re

import pytest
from delivery_otp.config import ConfigurationError, Settings

from local.template import ROOT, functions, template

# Read by Powertools itself, not by our code.
POWERTOOLS = {"POWERTOOLS_LOG_LEVEL", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_SERVICE_NAME"}


def template_variables() -> set[str]:
    names = set(template().get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    for props in functions().values():
        names |= set((props.get("Environment") or {}).get("Variables", {}))
    return names


def test_only_the_settings_module_reads_the_environment():
    readers = []
    for path in [*ROOT.glob("layers/shared/delivery_otp/**/*.py"), *ROOT.glob("functions/*/app.py")]:
        if path.name == "config.py":
            continue
        text = path.read_text(encoding="utf-8")
        readers += [f"{path.relative_to(ROOT)}" for _ in re.finditer(r"os\.environ|os\.getenv", text)]
    assert readers == []


def test_every_variable_the_template_sets_is_a_setting():
    config = (ROOT / "layers/shared/delivery_otp/config.py").read_text(encoding="utf-8")
    variables = template_variables() - POWERTOOLS
    assert variables, "the template hands the functions their configuration"
    assert sorted(name for name in variables if f'"{name}"' not in config) == []


def test_a_setting_needed_but_not_given_is_named():
    bare = Settings(table_name="t", code_key_secret_id="k", email_sender="s@example.com")
    with pytest.raises(ConfigurationError, match="ROTATION_QUEUE_URL"):
        bare.need("rotation_queue_url")
    given = Settings(table_name="t", code_key_secret_id="k", email_sender="s@example.com", rotation_queue_url="q")
    assert given.need("rotation_queue_url") == "q"
