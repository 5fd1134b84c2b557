"""Helpers of the events tests: a real HTTP receiver on loopback, an independent verifier of
Standard Webhooks signatures, and subjects an institution has business with."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from support import new_resident_id
from xinyong.db import transaction, utcnow
from xinyong.events.models import WebhookSubscription
from xinyong.events.service import create_subscription, emit
from xinyong.identity.crypto import KeyRing
from xinyong.identity.service import resolve_subjects, subject_ref
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import Principal, Role
from xinyong.reports.models import Consent


def querier_principal(institution: Institution) -> Principal:
    return Principal(
        api_key_id=None,
        role=Role.QUERIER,
        institution_id=institution.id,
        institution_code=institution.code,
        label=f"{institution.code} key",
    )


def new_subject(factory: sessionmaker[Session], keys: KeyRing) -> int:
    """A committed person subject; returns its id."""
    with transaction(factory) as session:
        ref = subject_ref(keys, "resident_id", new_resident_id(), name="李四")
        subject_id, _ = resolve_subjects(session, keys, [ref])[ref.index]
        return subject_id


def grant_consent(
    factory: sessionmaker[Session], institution_id: int, subject_id: int, *, days: int = 365
) -> int:
    """A current consent of the subject to the institution (the business a monitor needs)."""
    now = utcnow()
    with transaction(factory) as session:
        consent = Consent(
            subject_id=subject_id,
            institution_id=institution_id,
            purposes=["post_loan_management"],
            scope="both",
            granted_at=now - timedelta(days=1),
            expires_at=now + timedelta(days=days),
            evidence_kind="document_hash",
            evidence_sha256="0" * 64,
            recorded_by="institution",
        )
        session.add(consent)
        session.flush()
        return consent.id


def subscribe(
    factory: sessionmaker[Session],
    keys: KeyRing,
    institution: Institution,
    url: str,
    event_types: Sequence[str] = ("list_entry.*",),
    subjects: Sequence[int] = (),
) -> tuple[WebhookSubscription, str]:
    with transaction(factory) as session:
        return create_subscription(
            session, keys, querier_principal(institution), url, event_types, subjects
        )


def emit_committed(
    factory: sessionmaker[Session],
    event_type: str = "list_entry.created",
    *,
    subject_id: int | None = None,
    public: bool = False,
    payload: Mapping[str, Any] | None = None,
) -> str:
    """Emit one event in a transaction of its own; return its event id."""
    with transaction(factory) as session:
        event = emit(
            session,
            event_type,
            subject_id=subject_id,
            public=public,
            payload=payload if payload is not None else {"entry_id": 1, "list_type": "x"},
        )
        return event.event_id


# --- an independent verifier, written from the Standard Webhooks specification ----------------


def spec_verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: int, tolerance: int = 300
) -> bool:
    """The receiver's check as the spec describes it, sharing no code with the platform.

    Sign ``{webhook-id}.{webhook-timestamp}.{body}`` with HMAC-SHA256 under the base64-decoded
    secret (``whsec_`` stripped), compare in constant time with each ``v1,`` signature of the
    space-separated header, and refuse a timestamp more than ``tolerance`` seconds off.
    """
    headers = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(now - int(stamp)) > tolerance:
        return False
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    for signature in headers["webhook-signature"].split(" "):
        version, _, encoded = signature.partition(",")
        if version == "v1" and hmac.compare_digest(base64.b64decode(encoded), expected):
            return True
    return False


# --- a real HTTP receiver on 127.0.0.1 ------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int
    # The test's simulated clock when the request arrived (for the timestamp check).
    clock: datetime | None

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Receiver:
    """A webhook endpoint in a thread: ``ok`` (204), ``unavailable`` (503), ``error`` (500
    after taking the event in), ``gone`` (410) or ``slow`` (204 after ``delay`` seconds).

    Stopped, its port refuses connections; started again, it listens on the same port.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.mode = "ok"
        self.delay = 0.0
        self.retry_after: str | None = None
        self.clock: datetime | None = None
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/xinyong"

    @property
    def running(self) -> bool:
        return self._server is not None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                mode = receiver.mode
                if mode == "slow":
                    time.sleep(receiver.delay)
                status = {"ok": 204, "slow": 204, "unavailable": 503, "error": 500, "gone": 410}[
                    mode
                ]
                with receiver._lock:
                    receiver.requests.append(
                        Received(
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            status,
                            receiver.clock,
                        )
                    )
                self.send_response(status)
                if receiver.retry_after is not None:
                    self.send_header("Retry-After", receiver.retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def start(self, mode: str = "ok") -> None:
        self.mode = mode
        if self._server is not None:
            return
        server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if 200 <= r.answered < 300]

    def all(self) -> list[Received]:
        with self._lock:
            return list(self.requests)
