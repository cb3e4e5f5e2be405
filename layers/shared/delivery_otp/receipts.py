"""Handover receipts: after delivery, a statement signed by the service (a JWS with alg `Ed25519`,
RFC 9864's fully specified name for EdDSA over Ed25519) of which parcel was handed over, when, by
which courier and device, and to whom.

Anyone can check a receipt with the public key at /.well-known/jwks.json and any JOSE library, so a
shop, a carrier or a customer can settle a "the box was empty" dispute without trusting each other's
database. The private key is derived from a secret in Secrets Manager (32 bytes of SHA-256 over it,
the Ed25519 seed), never stored elsewhere; the key id is its RFC 7638 thumbprint, so a rotated key
gets a new id and old receipts stay checkable while the old key is published next to the new one.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from delivery_otp.deliveries import load
from delivery_otp.errors import Conflict
from delivery_otp.model import DELIVERED, RECIPIENT, readable
from delivery_otp.wiring import adapters

ISSUER = "delivery-otp"
_SEED_LABEL = b"delivery-otp receipt signing key v1\x00"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def _private_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    seed = hashlib.sha256(_SEED_LABEL + adapters().receipt_keys.key()).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_jwk() -> dict[str, str]:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = _private_key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    thumbprint = _b64url(hashlib.sha256(_json(jwk)).digest())  # RFC 7638: required members, sorted
    return {**jwk, "kid": thumbprint, "use": "sig", "alg": "Ed25519"}


def jwks() -> dict[str, list[dict[str, str]]]:
    return {"keys": [public_jwk()]}


def _handover(delivery: Any) -> dict[str, Any]:
    """Who handed it over and whose code opened it, from the audit trail's DELIVERED event."""
    event = next((e for e in reversed(delivery.events) if e.type == "DELIVERED"), None)
    actor = event.actor if event is not None else None
    return {
        "courier_id": getattr(actor, "courier_id", None),
        "device_id": getattr(actor, "device_id", None),
        "received_by": _receiver(delivery),
    }


def _receiver(delivery: Any) -> dict[str, Any]:
    """The recipient, or the delegate whose code opened the parcel, by role and id only: a receipt holds
    no name, address or postal code, so it can travel anywhere and stays true after the erasure."""
    who = delivery.received_by
    if not who or who == RECIPIENT:
        return {"kind": "recipient"}
    return {"kind": "delegate", "delegate_id": who}


def signed(delivery: Any, issued_at: int) -> dict[str, Any]:
    """The receipt of a delivered item in hand, issued at `issued_at` (Unix seconds). Ed25519 signs
    deterministically, so the same delivery and instant always give the same receipt. It names no person,
    so it can travel in the integration events and outlive an erasure."""
    key = public_jwk()
    claims = {
        "iss": ISSUER,
        "sub": delivery.delivery_id,
        "iat": issued_at,
        "order_id": readable(delivery.order_id),
        "delivered_at": delivery.delivered_at,
        "issue_number": int(delivery.delivered_issue) if delivery.delivered_issue is not None else None,
        **_handover(delivery),
    }
    header = {"alg": "Ed25519", "kid": key["kid"], "typ": "delivery-receipt+jwt"}
    signing_input = f"{_b64url(_json(header))}.{_b64url(_json(claims))}"
    signature = _private_key().sign(signing_input.encode())
    return {"receipt": f"{signing_input}.{_b64url(signature)}", "claims": claims, "kid": key["kid"]}


def receipt(delivery_id: str) -> dict[str, Any]:
    delivery = load(delivery_id)
    if delivery.status != DELIVERED:
        raise Conflict(f"delivery {delivery_id!r} has not been delivered: there is no receipt yet")
    return signed(delivery, int(adapters().clock.now().timestamp()))
