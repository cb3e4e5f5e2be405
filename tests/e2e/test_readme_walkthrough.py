"""The README's walkthrough, run as written (bash, curl, jq) against the local stack with
authentication on: a newcomer following it reaches a delivered parcel, by way of every control the
customer has (resend, replace, delegates, another day), an alert, a signed receipt, a bounce and the
erasure of the personal data."""

from __future__ import annotations

import re
import subprocess

import pytest

from local.template import ROOT

pytestmark = [pytest.mark.e2e]


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Walkthrough on the local stack", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_the_readme_walkthrough_delivers_the_parcel(secure_stack_url):
    script = walkthrough().replace("API=http://127.0.0.1:3000", f"API={secure_stack_url}")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,  # the walkthrough hands the bounce function events/ses_bounce.json
    )
    assert done.returncode == 0, done.stderr
    print(done.stdout)
    out = done.stdout
    assert '<p role="img" aria-label="Codice di consegna: ' in out
    assert '"status":"REQUEUED"' in out
    # Maria's link: her page answers, and replacing the code ended it; the courier app is served.
    link = re.search(r"(http://127\.0\.0\.1:\d+/r/[A-Za-z0-9_-]{32})\n200\n", out)
    assert link and link.group(1).startswith(secure_stack_url)
    assert re.search(r"^404$", out, re.M) and re.search(r"^200$", out[out.index("\n404\n") :], re.M)
    assert '"RotationFunction": {"shards_queued": 16' in out
    assert '"resends_left_today":2' in out and '["CODE_RESENT",1,null]' in out
    # Maria's inbox after the resend and the replacement asked back to back: the resend arrived too.
    assert len(re.findall(r"^.*codice di consegna per lunedì 23 novembre 2026 \(ordine ", out, re.M)) == 3
    assert re.search(r'\["EMAIL_SENT",[12],"resend"\]', out)
    assert '["ROTATED",2,"customer request"]' in out  # the leaked code replaced, then the night's rotation
    assert '"issue_number":3' in out
    assert '"delegate_id":"dlg-1"' in out and '{"delegate_id":"dlg-2","name":"Sophie Martin","status":"REVOKED"}' in out
    assert "Maria Rossi conta su di Lei" in out  # Marco's own email
    assert '["RESCHEDULED",4,"2026-11-24 -> 2026-11-25"]' in out
    assert "codice errato" in out.lower()  # the wrong-code alert to Maria
    assert out.count('"result":"ACCEPTED"') == 2  # the retry with the same Idempotency-Key
    assert '["DELIVERED",4,"delegate:dlg-1"]' in out
    assert '"received_by":{"kind":"delegate","delegate_id":"dlg-1"}' in out
    assert '"sub":"IT-000123"' in out
    assert '{"marked":1,"ignored":0}' in out.replace(" ", "")
    assert '{"email_undeliverable":true,"delegates":[{"delegate_id":"dlg-1"' in out
    assert '"crv":"Ed25519"' in out
    assert '{"personal_data_erased":true,"delegates":[{"delegate_id":"dlg-1","name":null' in out
    assert re.search(r'^\{"kind":"delegate","delegate_id":"dlg-1"\}$', out, re.M)  # the receipt after erasure
    assert '"SCHEDULED"\n"RETURNED"\n' in out  # the second order, sent back to its sender
    assert '["RETURNED","arn:aws:iam::123456789012:user/local-storefront"]' in out
    # The webhook step: the receiver verified the signed test event.
    assert re.search(r"^verified webhook\.test wh_[0-9a-f]{32} \{\"endpoint_id\": \"wh_", out, re.M)
    assert "Forbidden" not in out and "Unauthorized" not in out
