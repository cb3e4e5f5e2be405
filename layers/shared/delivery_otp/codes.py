"""Delivery codes: derived, never stored.

A code is HMAC-SHA256(key, delivery id, issue number, random nonce) reduced to 6 digits. The key lives
in the secret store; the table keeps only the nonce and a keyed MAC of the code, so neither the table
nor a stream, log or idempotency record gives an attacker anything to brute-force over the 10^6
candidates. The storefront's code view and the email re-derive the code from the nonce when needed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

CODE_LENGTH = 6
_MODULUS = 10**CODE_LENGTH
_DIGITS = frozenset("0123456789")


def is_well_formed(candidate: object) -> bool:
    """Exactly 6 ASCII digits; `str.isdigit` would let Arabic-Indic or full-width digits through."""
    return isinstance(candidate, str) and len(candidate) == CODE_LENGTH and set(candidate) <= _DIGITS


def new_nonce() -> str:
    """Fresh randomness per issued code, from the operating system's CSPRNG."""
    return secrets.token_hex(16)


def derive_code(key: bytes, delivery_id: str, issue_number: int, nonce: str) -> str:
    message = f"code\x1f{delivery_id}\x1f{issue_number}\x1f{nonce}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    # 64 bits reduced mod 10^6: the bias is below 2^-44, far under any guessing advantage.
    return f"{int.from_bytes(digest[:8], 'big') % _MODULUS:06d}"


def code_mac(key: bytes, delivery_id: str, code: str) -> str:
    """Keyed fingerprint that lets one conditional write check a code without storing it.

    The issue number is left out on purpose: the courier's request does not know it, and the write's
    condition also requires the delivery's current issue to be live, so an old code cannot match.
    """
    message = f"mac\x1f{delivery_id}\x1f{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def delegate_id(number: int) -> str:
    """Delegates are numbered per delivery, never reused: a revoked id stays revoked."""
    return f"dlg-{number}"


def delegate_number(delegate: str) -> int:
    """The order delegates were named in (a sort key: "dlg-10" comes after "dlg-9")."""
    return int(delegate.rsplit("-", 1)[1])


def delegate_codes(key: bytes, delivery_id: str, issue_number: int, nonce: str, delegates: int) -> dict[str, str]:
    """The code of each delegate ever named (dlg-1 .. dlg-N) for this issue, none equal to the
    recipient's or to an earlier delegate's.

    Derived from the recipient's nonce, so every new issue (rotation, reschedule, "my code leaked")
    renews them all at once, and nothing more is stored. A clash (one in a million per pair) takes
    the next candidate; revoked delegates keep their place in that order, so revoking one never
    changes the code another was sent.
    """
    taken = {derive_code(key, delivery_id, issue_number, nonce)}
    result: dict[str, str] = {}
    for number in range(1, delegates + 1):
        who = delegate_id(number)
        for candidate in range(100):
            message = f"delegate\x1f{delivery_id}\x1f{issue_number}\x1f{nonce}\x1f{who}\x1f{candidate}".encode()
            digest = hmac.new(key, message, hashlib.sha256).digest()
            code = f"{int.from_bytes(digest[:8], 'big') % _MODULUS:06d}"
            if code not in taken:
                break
        taken.add(code)
        result[who] = code
    return result
