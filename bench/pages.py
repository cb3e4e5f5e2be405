"""The people's pages: what a courier's device downloads on first start, and how long the recipient's
page takes on the server, each beside its reference.

- Courier app first load: the page and every file it pulls in on start (scripts and the modules they
  import, styles, manifest, service worker; icons aside), as sent and gzipped; reference: the 100 KB budget.
- Recipient page, warm: median time of the handler serving `GET /r/{token}` (the page without the code)
  and `POST /r/{token}` "show my code", in-process against moto; reference: a bare handler returning a
  static string, timed the same way in the same run.
- Recipient page, cold: a fresh interpreter importing the handler and serving its first GET (the code
  key fetched, the templates compiled); reference: a fresh interpreter defining a bare handler and
  calling it once. Bytecode is compiled beforehand for both, as in `bench.coldstart`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from local.template import ROOT, functions

BUDGET_BYTES = 100 * 1024
COURIER = "CourierAppFunction"
PAGE = "RecipientPageFunction"
_REFERENCES = re.compile(r'(?:src|href)="([^"]+)"')
_IMPORTS = re.compile(r'(?:from\s+|import\s*\(\s*|register\(\s*)"(\./[^"]+|[^"/:]+\.js)"')


def _bare_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "ok"}


def _courier_event(asset: str | None = None) -> dict[str, Any]:
    sample = json.loads((ROOT / "events" / ("courier_app_asset.json" if asset else "courier_app.json")).read_text())
    if asset:
        sample["pathParameters"] = {"asset": asset}
        sample["rawPath"] = f"/courier/{asset}"
    return sample


def courier_first_load() -> dict[str, Any]:
    """Every file the app's page pulls in on start, followed from the page itself (not from a list)."""
    from tests.support.lambdas import invoke

    page = invoke(COURIER, _courier_event())
    assert page["statusCode"] == 200
    bodies = {"/courier/": page["body"]}
    waiting = [ref for ref in _REFERENCES.findall(page["body"]) if not ref.startswith(("http", "#", "data:"))]
    while waiting:
        name = waiting.pop().split("/")[-1].split("?")[0]
        if name in bodies or not name or name.endswith((".svg", ".png", ".ico")):
            continue
        answer = invoke(COURIER, _courier_event(name))
        assert answer["statusCode"] == 200, name
        bodies[name] = answer["body"]
        if name.endswith(".js"):
            waiting += [ref.removeprefix("./") for ref in _IMPORTS.findall(answer["body"])]
    sent = sum(len(body.encode()) for body in bodies.values())
    zipped = sum(len(gzip.compress(body.encode())) for body in bodies.values())
    return {
        "files": sorted(bodies),
        "bytes": sent,
        "gzip_bytes": zipped,
        "budget_bytes": BUDGET_BYTES,
        "ratio": sent / BUDGET_BYTES,
    }


def _page_event(method: str, token: str, form: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": f"{method} /r/{{token}}",
        "rawPath": f"/r/{token}",
        "rawQueryString": "",
        "headers": {"accept-language": "it-IT,it;q=0.9", "content-type": "application/x-www-form-urlencoded"},
        "pathParameters": {"token": token},
        "requestContext": {"http": {"method": method, "path": f"/r/{token}"}, "requestId": str(uuid.uuid4())},
        "body": urlencode(form) if form is not None else None,
        "isBase64Encoded": False,
    }


def _next_weekday() -> date:
    day = datetime.now(ZoneInfo("Europe/Rome")).date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _registered_link() -> tuple[str, str]:
    """A delivery registered for the next weekday (real time: the cold run's interpreter has no settable
    clock) and its recipient's link token and CSRF token."""
    from delivery_otp import links, registration
    from delivery_otp.model import RECIPIENT
    from delivery_otp.wiring import adapters

    from tests.support import factories

    body = factories.registration(
        delivery_date=_next_weekday().isoformat(),
        recipient={"email": f"b-{uuid.uuid4().hex[:8]}@example.com", "name": "Maria Rossi", "locale": "it-IT"},
    )
    registration.register(body)
    item = adapters().deliveries.get(body["delivery_id"])
    key = adapters().keys.key()
    token = links.token(key, body["delivery_id"], RECIPIENT, links.salt_of(item, RECIPIENT))
    return token, links.csrf_token(key, token)


def _median_seconds(call: Any, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _cold_script(token: str | None) -> str:
    if token is None:
        body = (
            "def handler(event, context):\n"
            "    return {'statusCode': 200, 'headers': {'Content-Type': 'text/plain'}, 'body': 'ok'}\n"
            "assert handler({}, None)['statusCode'] == 200\n"
        )
        return body
    props = functions()[PAGE]
    module = props["Handler"].rsplit(".", 1)[0]
    paths = [str(ROOT / "layers" / "shared"), str(ROOT / props["CodeUri"]), str(ROOT)]
    event = json.dumps(_page_event("GET", token))
    return (
        f"import sys, json; sys.path[:0] = {paths!r}\n"
        f"import {module} as page\n"
        "from tests.support.lambdas import Context\n"
        f"answer = page.lambda_handler(json.loads({event!r}), Context())\n"
        "assert answer['statusCode'] == 200, answer['statusCode']\n"
    )


def _wall(script: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT)  # noqa: S603 - our own script
    return time.perf_counter() - started


def measure() -> tuple[dict[str, Any], dict[str, Any]]:
    """Both figures, with the functions' settings and AWS (moto, built from the template) in place."""
    from delivery_otp import wiring

    from tests.support.aws import moto_with_template

    with moto_with_template(suffix="bench-pages"):
        wiring.reset()
        try:
            return courier_first_load(), recipient_page()
        finally:
            wiring.reset()


def recipient_page(rounds: int = 0, cold_runs: int = 0) -> dict[str, Any]:
    from tests.support.lambdas import Context, invoke

    rounds = rounds or int(os.environ.get("BENCH_PAGE_ROUNDS", "200"))
    cold_runs = cold_runs or int(os.environ.get("BENCH_PAGE_COLD_RUNS", "9"))

    token, csrf = _registered_link()
    get = _page_event("GET", token)
    show = _page_event("POST", token, {"action": "show", "csrf": csrf})
    assert invoke(PAGE, get)["statusCode"] == 200 and invoke(PAGE, show)["statusCode"] == 200  # warm-up
    context = Context()
    bare = _median_seconds(lambda: _bare_handler(get, context), rounds)
    # A second, closer reference: the two strongly consistent reads any page of a link needs (its lookup
    # item, then the delivery), made with a bare boto3 client to the same moto.
    import boto3

    table = os.environ["TABLE_NAME"]
    client = boto3.client("dynamodb")
    lookup_key = {"pk": {"S": f"L#{hashlib.sha256(token.encode()).hexdigest()}"}}

    def two_reads() -> None:
        client.get_item(TableName=table, Key=lookup_key, ConsistentRead=True)
        client.get_item(TableName=table, Key=lookup_key, ConsistentRead=True)

    reads = _median_seconds(two_reads, rounds)
    warm_get = _median_seconds(lambda: invoke(PAGE, get), rounds)
    warm_show = _median_seconds(lambda: invoke(PAGE, show), rounds)
    cold = {"page": [], "bare": []}
    scripts = {"page": _cold_script(token), "bare": _cold_script(None)}
    for script in scripts.values():
        _wall(script)  # compiles bytecode and warms the file cache for both
    for _ in range(cold_runs):
        for name, script in scripts.items():
            cold[name].append(_wall(script))
    cold_page, cold_bare = statistics.median(cold["page"]), statistics.median(cold["bare"])
    return {
        "warm_bare_s": bare,
        "warm_two_reads_s": reads,
        "warm_get_to_reads": warm_get / reads,
        "warm_get_s": warm_get,
        "warm_show_s": warm_show,
        "warm_get_ratio": warm_get / bare,
        "warm_show_ratio": warm_show / bare,
        "cold_bare_s": cold_bare,
        "cold_get_s": cold_page,
        "cold_ratio": cold_page / cold_bare,
    }


def report(first_load: dict[str, Any], page: dict[str, Any]) -> None:
    print(
        f"  courier app first load   {first_load['bytes']:7,} bytes ({first_load['gzip_bytes']:,} gzipped)"
        f"   {first_load['ratio']:.2f}x the {BUDGET_BYTES:,}-byte budget   files: {', '.join(first_load['files'])}"
    )
    print(
        f"  recipient page warm GET  {page['warm_get_s'] * 1000:7.2f} ms   {page['warm_get_ratio']:.0f}x"
        f" a bare handler ({page['warm_bare_s'] * 1e6:.2f} us)"
    )
    print(
        f"                           {page['warm_get_to_reads']:.2f}x two GetItem round trips to the same moto"
        f" ({page['warm_two_reads_s'] * 1000:.2f} ms)"
    )
    print(f"  recipient page warm show {page['warm_show_s'] * 1000:7.2f} ms   {page['warm_show_ratio']:.0f}x")
    print(
        f"  recipient page cold GET  {page['cold_get_s'] * 1000:7.1f} ms   {page['cold_ratio']:.2f}x"
        f" a bare handler's cold start ({page['cold_bare_s'] * 1000:.1f} ms)"
    )


if __name__ == "__main__":
    import bench  # noqa: F401 - puts the layer on the path

    report(*measure())
