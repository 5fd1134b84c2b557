"""A synthetic population loaded into a test database through the real ingestion path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from xinyong.db import transaction
from xinyong.identity.crypto import KeyRing
from xinyong.ingestion.readers import FileFormat
from xinyong.ingestion.tasks import ingest_file
from xinyong.institutions.schemas import InstitutionCreate, InstitutionKind
from xinyong.institutions.service import create_institution
from xinyong.synth.service import SynthManifest, generate_population


@dataclass(frozen=True)
class LoadedPopulation:
    root: Path
    manifest: SynthManifest


def load_population(
    factory: sessionmaker[Session],
    keys: KeyRing,
    root: Path,
    *,
    persons: int = 300,
    enterprises: int = 60,
    seed: int = 11,
) -> LoadedPopulation:
    """Generate a population and ingest every file of it, initial files first."""
    manifest = generate_population(persons, enterprises, seed, root)
    furnisher_ids: dict[str, int] = {}
    with transaction(factory) as session:
        for furnisher in manifest.furnishers:
            furnisher_ids[furnisher.code] = create_institution(
                session,
                keys,
                InstitutionCreate(
                    code=furnisher.code,
                    name=furnisher.name_zh,
                    name_en=furnisher.name_en,
                    kind=InstitutionKind(furnisher.kind),
                    uscc=furnisher.uscc,
                    is_furnisher=True,
                    permitted_record_types=list(furnisher.record_types),
                ),
            ).id
    for spec in sorted(manifest.files, key=lambda f: (f.kind != "initial", f.path)):
        result = ingest_file(
            factory,
            keys,
            furnisher_id=furnisher_ids[spec.furnisher_code],
            path=root / spec.path,
            file_format=FileFormat(spec.format),
            idempotency_key=None,
            source="test",
            chunk_rows=5000,
        )
        assert result.rows.rejected == 0, result
    return LoadedPopulation(root, manifest)
