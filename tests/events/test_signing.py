"""Signatures: the Standard Webhooks scheme, checked against its published test vector and
against implementations that share no code with the platform."""

from __future__ import annotations

import base64
import time

import pytest
from events_support import spec_verify
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from xinyong.events.signing import (
    SECRET_PREFIX,
    generate_secret,
    secret_key,
    sign,
    signature_headers,
    verify,
)

# The test vector of the Standard Webhooks reference libraries (libraries/*/tests: secret,
# id, timestamp, payload and the signature every implementation must produce).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_PAYLOAD = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

BODY = b'{"data":{"entry_id":1},"id":"8d0f7c52-5b0e-4d5e-9b1f-1f1b9b7c1c11","type":"x.y"}'
MSG_ID = "8d0f7c52-5b0e-4d5e-9b1f-1f1b9b7c1c11"


def test_the_published_test_vector() -> None:
    assert (
        sign(secret_key(VECTOR_SECRET), VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_PAYLOAD)
        == VECTOR_SIGNATURE
    )
    headers = signature_headers(
        [secret_key(VECTOR_SECRET)], VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_PAYLOAD
    )
    assert headers == {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": VECTOR_SIGNATURE,
    }
    assert spec_verify(VECTOR_SECRET, headers, VECTOR_PAYLOAD, now=VECTOR_TIMESTAMP)  # independent


def test_secrets_are_whsec_base64_of_32_random_bytes() -> None:
    secret = generate_secret()
    assert secret.startswith(SECRET_PREFIX)
    assert len(base64.b64decode(secret.removeprefix(SECRET_PREFIX))) == 32
    assert generate_secret() != secret


def test_the_reference_library_verifies_our_requests() -> None:
    secret = generate_secret()
    now = int(time.time())  # the library checks the timestamp against its own clock
    headers = signature_headers([secret_key(secret)], MSG_ID, now, BODY)
    assert Webhook(secret).verify(BODY, headers) == {
        "data": {"entry_id": 1},
        "id": MSG_ID,
        "type": "x.y",
    }
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"1}", b"2}"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)


def test_a_tampered_body_a_wrong_secret_or_a_changed_id_fail() -> None:
    secret = generate_secret()
    headers = signature_headers([secret_key(secret)], MSG_ID, 1_800_000_000, BODY)
    for check in (spec_verify, verify):
        assert check(secret, headers, BODY, now=1_800_000_000)
        assert not check(secret, headers, BODY + b" ", now=1_800_000_000)
        assert not check(generate_secret(), headers, BODY, now=1_800_000_000)
        assert not check(
            secret, {**headers, "webhook-id": MSG_ID[:-1] + "0"}, BODY, now=1_800_000_000
        )


def test_the_timestamp_is_signed_so_a_replay_is_refused() -> None:
    secret = generate_secret()
    sent_at = 1_800_000_000
    headers = signature_headers([secret_key(secret)], MSG_ID, sent_at, BODY)
    # Within the tolerance the request is accepted …
    assert verify(secret, headers, BODY, now=sent_at + 299)
    # … replayed ten minutes later it is refused …
    assert not verify(secret, headers, BODY, now=sent_at + 600)
    assert not spec_verify(secret, headers, BODY, now=sent_at + 600)
    # … and moving the timestamp forward breaks the signature.
    forged = {**headers, "webhook-timestamp": str(sent_at + 600)}
    assert not verify(secret, forged, BODY, now=sent_at + 600)
    assert not spec_verify(secret, forged, BODY, now=sent_at + 600)


def test_after_a_rotation_both_secrets_sign() -> None:
    old, new = generate_secret(), generate_secret()
    headers = signature_headers([secret_key(new), secret_key(old)], MSG_ID, 1_800_000_000, BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert spec_verify(secret, headers, BODY, now=1_800_000_000)
        assert verify(secret, headers, BODY, now=1_800_000_000)


def test_ids_with_a_full_stop_are_refused() -> None:
    with pytest.raises(ValueError, match="full stop"):
        sign(secret_key(generate_secret()), "a.b", 1, BODY)
