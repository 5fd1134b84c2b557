"""Helpers of the web page tests: a regulator and a court that furnish public records.

Records go through the real batch runner (:class:`reports.helpers.Furnish`), so the pages
show what ingestion made of them: subjects, the organisation-name index and the court-list
entries it writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from reports.helpers import Furnish, enterprise_row, person_row
from support import new_resident_id, new_uscc
from xinyong.db import transaction, utcnow
from xinyong.identity.crypto import KeyRing
from xinyong.institutions.models import Institution
from xinyong.institutions.schemas import InstitutionCreate, InstitutionKind
from xinyong.institutions.service import create_institution
from xinyong.lists.service import add_months

TODAY = utcnow().date()
REGULATOR = "北京市朝阳区市场监督管理局"
COURT = "北京市朝阳区人民法院"
GALAXY = "北京星河数据服务有限公司"
GALAXY_EN = "Beijing Galaxy Data Services Co., Ltd."
PERSON_NAME = "欧阳修远"


def make_regulator(factory: sessionmaker[Session], keys: KeyRing, code: str) -> Institution:
    """A furnisher of licences, penalties and court listings."""
    with transaction(factory) as session:
        return create_institution(
            session,
            keys,
            InstitutionCreate(
                code=code,
                name=f"{code} 机构",
                kind=InstitutionKind.MARKET_REGULATOR,
                uscc=new_uscc(),
                is_furnisher=True,
                permitted_record_types=[
                    "administrative_licence",
                    "administrative_penalty",
                    "dishonest_debtor_listing",
                ],
            ),
        )


def company(uscc: str, record_type: str, key: str, name: str, **fields: Any) -> dict[str, Any]:
    return {**enterprise_row(uscc, record_type, key, **fields), "subject_name": name}


def licence(uscc: str, key: str, name: str, *, status: str = "valid") -> dict[str, Any]:
    decided = TODAY - timedelta(days=100)
    return company(
        uscc,
        "administrative_licence",
        key,
        name,
        valid_from=decided.isoformat(),
        decision_number=f"京朝市监许〔2026〕{key}号",
        licence_name="食品经营许可证",
        licence_category="general",
        authority=REGULATOR,
        decision_date=decided.isoformat(),
        status=status,
    )


def penalty(
    uscc: str, key: str, name: str, *, decided: date, violation: str = "虚假宣传"
) -> dict[str, Any]:
    return company(
        uscc,
        "administrative_penalty",
        key,
        name,
        valid_from=decided.isoformat(),
        decision_number=f"京朝市监罚〔2026〕{key}号",
        violation_type=violation,
        penalty_type="fine",
        severity="general",
        fine_amount="5000.00",
        authority=REGULATOR,
        decision_date=decided.isoformat(),
    )


def listing(row: dict[str, Any], key: str, listed: date) -> dict[str, Any]:
    """A court's listing of the subject of ``row`` (a person or an organisation)."""
    return {
        **row,
        "valid_from": listed.isoformat(),
        "case_number": f"(2026)京0105执{key}号",
        "court": COURT,
        "ground": "evades_enforcement",
        "obligation": "支付货款及利息",
        "performance": "not_performed",
        "listing_date": listed.isoformat(),
    }


def penalty_ends(decided: date) -> date:
    """The last day a general penalty decided on ``decided`` is published (one year)."""
    return add_months(decided, 12) - timedelta(days=1)


@dataclass(frozen=True)
class Population:
    galaxy: str  # a company with a licence, a penalty and a court-list entry
    quiet: str  # a company with nothing in publicity
    person: str  # a person on the court list
    penalty_decided: date
    listed: date


def furnish_population(tmp_path: Path, factory: sessionmaker[Session], keys: KeyRing) -> Population:
    """The records the page tests read, furnished through the real ingestion path."""
    regulator = make_regulator(factory, keys, "regulator-web")
    furnish = Furnish(tmp_path, factory, keys, regulator)
    galaxy, quiet, person = new_uscc(), new_uscc(), new_resident_id()
    decided, listed = TODAY - timedelta(days=30), TODAY - timedelta(days=20)
    furnish(
        {**licence(galaxy, "L1", GALAXY), "subject_name_en": GALAXY_EN},
        penalty(galaxy, "P1", GALAXY, decided=decided),
        listing(company(galaxy, "dishonest_debtor_listing", "D1", GALAXY), "D1", listed),
        licence(quiet, "L2", "北京星河物流有限公司", status="expired"),
        listing(
            {
                **person_row(person, "dishonest_debtor_listing", "D2"),
                "subject_name": PERSON_NAME,
            },
            "D2",
            listed,
        ),
    )
    return Population(galaxy, quiet, person, decided, listed)
