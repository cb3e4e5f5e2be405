"""Links to the holder's own page (`/r/{token}`): one per holder, the recipient or one delegate.

A link's token is derived, never stored: an HMAC under the code key over the delivery, the holder and
the holder's link salt (16 random bytes kept on the delivery), so the email sender derives the same link
for every email of a holder and nothing but the secret key can make one. The table keeps only the
SHA-256 of a token, as the key of a small lookup item naming the delivery and the holder, written in the
same transaction as the write that gives the holder its salt (registration, naming a delegate,
replacing a leaked code). A link works while the salt it was made with is still the holder's: a new
salt ("replace my code") ends every earlier link of the recipient; a revoked delegate's link ends with
the delegate. A copy of the table cannot open a page: it holds hashes of tokens, not tokens.

The token carries no code and no id: 32 base64url characters (192 bits of HMAC output).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime

from delivery_otp.model import RECIPIENT, DeliveryModel, LinkModel, delegate_entries, link_key

TOKEN_LENGTH = 32
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
# Where a page link points under the service's base URL.
PAGE_PATH = "/r/"


def new_salt() -> str:
    """Fresh randomness for a holder's link, from the operating system's CSPRNG."""
    return secrets.token_hex(16)


def _mac(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:TOKEN_LENGTH]


def token(key: bytes, delivery_id: str, holder: str, salt: str) -> str:
    """The token of a holder's link (`holder`: "recipient" or a delegate id)."""
    return _mac(key, f"link\x1f{delivery_id}\x1f{holder}\x1f{salt}")


def token_hash(token_text: str) -> str:
    """What the table keeps of a token."""
    return hashlib.sha256(token_text.encode()).hexdigest()


def is_token_shaped(text: str) -> bool:
    return bool(_TOKEN.fullmatch(text))


def matches(key: bytes, delivery_id: str, holder: str, salt: str, token_text: str) -> bool:
    """The token is the holder's link with this salt (compared in constant time)."""
    return hmac.compare_digest(token(key, delivery_id, holder, salt), token_text)


def csrf_token(key: bytes, token_text: str) -> str:
    """The hidden field every form of a page carries: bound to that page's link, derived (no session store).
    A page on another site cannot read it, so it cannot make a browser post to this page."""
    return _mac(key, f"csrf\x1f{token_hash(token_text)}")


def csrf_matches(key: bytes, token_text: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(csrf_token(key, token_text), str(sent))


def salt_of(delivery: DeliveryModel, holder: str) -> str | None:
    """The holder's current link salt (None: no link, or a delegate no longer live)."""
    if holder == RECIPIENT:
        return delivery.link_salt
    if holder not in (delivery.live_delegates or ()):
        return None
    salt = delegate_entries(delivery).get(holder, {}).get("link_salt")
    return str(salt) if salt else None


def lookup(key: bytes, delivery_id: str, holder: str, salt: str, expires: datetime | None) -> LinkModel:
    """The lookup item of a holder's link with this salt; it leaves the table with the delivery (TTL)."""
    return LinkModel(
        link_key(token_hash(token(key, delivery_id, holder, salt))),
        delivery_id=delivery_id,
        holder=holder,
        expires_at=expires,
    )


def page_url(base: str, token_text: str) -> str:
    return f"{base.rstrip('/')}{PAGE_PATH}{token_text}"


def holder_url(base: str, key: bytes, delivery: DeliveryModel, holder: str) -> str | None:
    """The holder's current link (None when the holder has none, e.g. a delivery registered before links)."""
    salt = salt_of(delivery, holder)
    return page_url(base, token(key, delivery.delivery_id, holder, salt)) if salt else None
