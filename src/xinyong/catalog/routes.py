"""Catalog routes: the record types institutions submit and read."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from xinyong.api.deps import AnyPrincipal
from xinyong.catalog.service import catalog_document, get_catalog

router = APIRouter(prefix="/v1/catalog", tags=["catalog"])


@router.get("", summary="The record-type catalog")
def read_catalog(_: AnyPrincipal) -> dict[str, Any]:
    return catalog_document(get_catalog())


@router.get("/record-types/{code}", summary="One record type")
def read_record_type(code: str, _: AnyPrincipal) -> dict[str, Any]:
    catalog = get_catalog()
    record_type = catalog.record_type(code)
    document = catalog_document(catalog)
    return next(rt for rt in document["record_types"] if rt["code"] == record_type.code)
