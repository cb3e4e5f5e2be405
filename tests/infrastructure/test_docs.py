"""The repository stands alone: it is what users get, so nothing in it points at papers they never see,
every document the README links to exists, and the behaviour page's module map names real modules."""

from __future__ import annotations

import json
import re
import subprocess

from local.template import ROOT

# Working papers of the people who wrote this, never shipped: a reader cannot follow these.
OUTSIDE = re.compile(r"\.\./shared|\bSPEC\b|\bSTYLE\b|\bthe performance issue\b|\bof the issue\b|\b[Gg]oal \d\b")


def tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [name for name in listed.stdout.splitlines() if name != "uv.lock" and (ROOT / name).is_file()]


def test_no_file_points_outside_the_repository():
    offending = []
    for name in tracked_files():
        if name == "tests/infrastructure/test_docs.py":
            continue
        text = (ROOT / name).read_text(encoding="utf-8", errors="replace")
        offending += [
            f"{name}:{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)
        ]
    assert offending == []


def test_every_document_the_readme_links_to_exists():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(((?:docs/)[^)#]+)\)", readme)
    assert "docs/behaviour.md" in links and "docs/performance.md" in links and "docs/scale.md" in links
    assert [link for link in links if not (ROOT / link).is_file()] == []


def test_the_readme_is_the_door_not_an_essay():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.index("make run") < 200 and readme.index("make test") < 300
    assert len(readme) < 20_000


def test_the_module_map_names_real_modules():
    page = (ROOT / "docs/behaviour.md").read_text(encoding="utf-8")
    section = page.split("## Where each rule lives", 1)[1]
    named = set(re.findall(r"`([a-z_/]+\.py)`", section))
    assert len(named) > 20
    layer, local = ROOT / "layers/shared/delivery_otp", ROOT / "local"
    assert sorted(name for name in named if not (layer / name).is_file() and not (local / name).is_file()) == []
    modules = {p.name for p in layer.glob("*.py")} - {"__init__.py", "clock.py"}
    assert sorted(modules - named) == [], "every module of the layer has a place in the map"


def test_the_events_page_quotes_every_example_the_mapping_makes():
    import importlib.util

    spec = importlib.util.spec_from_file_location("event_examples", ROOT / "scripts" / "event_examples.py")
    assert spec and spec.loader
    examples = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(examples)
    page = (ROOT / "docs/events.md").read_text(encoding="utf-8")
    from delivery_otp import wiring
    from delivery_otp.integration_events import EVENT_TYPES

    try:
        report = examples.report()
    finally:
        wiring.reset()  # the examples sign with a key of their own: no later test gets it
    assert report in page, "rerun: python scripts/event_examples.py, and paste its output into docs/events.md"
    assert all(f"### `{kind}`" in page for kind in EVENT_TYPES)
    assert "## Webhooks" in page


def test_the_signed_webhook_example_in_the_events_page_is_signed_as_it_says():
    from datetime import UTC, datetime

    from standardwebhooks import Webhook

    page = (ROOT / "docs/events.md").read_text(encoding="utf-8")
    secret = re.search(r"example secret `(whsec_[A-Za-z0-9+/=]+)`", page).group(1)
    request = re.search(r"```http\n(.*?)\n```", page, re.S).group(1)
    head, body = request.split("\n\n", 1)
    headers = dict(line.split(": ", 1) for line in head.splitlines()[1:])
    when = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    assert Webhook(secret).sign(headers["webhook-id"], when, body) == headers["webhook-signature"]
    event = json.loads(body)
    assert event["id"] == headers["webhook-id"] and event["specversion"] == "1.0"


def test_every_template_parameter_is_documented():
    from local.template import template

    page = (ROOT / "docs/configuration.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8").split("## Configuration", 1)[1].split("\n## ", 1)[0]
    parameters = set(template()["Parameters"])
    assert sorted(p for p in parameters if f"| `{p}` |" not in page) == [], "docs/configuration.md's table"
    assert sorted(p for p in parameters if f"`{p}`" not in readme) == [], "the README's Configuration section"
