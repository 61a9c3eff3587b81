"""Shared plumbing for the table-backed stores: table creation, conditional writes, queries."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

__all__ = [
    "MatchConditions", "ResourceExistsError", "ResourceNotFoundError", "TableStore", "UpdateMode",
    "as_utc", "is_precondition_failed",
]


def is_precondition_failed(error: HttpResponseError) -> bool:
    """412 (update-if-match lost) or 409 (insert-if-absent lost): someone else wrote first."""
    return error.status_code in (409, 412)


def as_utc(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime property, got {type(value).__name__}")
    aware = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    # The SDK returns a datetime subclass carrying the service's string; hand out a plain one.
    return datetime(aware.year, aware.month, aware.day, aware.hour, aware.minute, aware.second,
                    aware.microsecond, tzinfo=UTC)


class TableStore:
    """One table: created on first use by :meth:`ensure`, thin typed helpers around the SDK."""

    def __init__(self, service: TableServiceClient, table_name: str) -> None:
        self.service = service
        self.table_name = table_name
        self.table: TableClient = service.get_table_client(table_name)

    def ensure(self) -> None:
        self.service.create_table_if_not_exists(self.table_name)

    def read(self, partition: str, row: str) -> dict[str, Any] | None:
        try:
            entity = self.table.get_entity(partition, row)
        except ResourceNotFoundError:
            return None
        return _with_etag(entity)

    def query(self, filter_: str, parameters: Mapping[str, Any] | None = None,
              limit: int | None = None, select: list[str] | None = None) -> Iterator[dict[str, Any]]:
        pages = self.table.query_entities(
            filter_, parameters=dict(parameters or {}), results_per_page=min(limit or 1000, 1000),
            select=select,
        )
        count = 0
        for entity in pages:
            yield _with_etag(entity)
            count += 1
            if limit is not None and count >= limit:
                return

    def insert(self, entity: Mapping[str, Any]) -> str:
        """Insert if absent; raises ResourceExistsError otherwise. Returns the new ETag."""
        try:
            return str(self.table.create_entity(_strip(entity))["etag"])
        except ResourceNotFoundError:
            raise self._missing() from None

    def replace_if_match(self, entity: Mapping[str, Any], etag: str) -> str:
        result = self.table.update_entity(
            _strip(entity), mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
        )
        return str(result["etag"])

    def merge_if_match(self, entity: Mapping[str, Any], etag: str) -> str:
        """Update the given properties only (others kept), if nobody changed the entity meanwhile."""
        result = self.table.update_entity(
            _strip(entity), mode=UpdateMode.MERGE, etag=etag, match_condition=MatchConditions.IfNotModified
        )
        return str(result["etag"])

    def upsert(self, entity: Mapping[str, Any], mode: UpdateMode = UpdateMode.REPLACE) -> str:
        try:
            return str(self.table.upsert_entity(_strip(entity), mode=mode)["etag"])
        except ResourceNotFoundError:
            raise self._missing() from None

    def _missing(self) -> RuntimeError:
        return RuntimeError(
            f"table {self.table_name!r} does not exist: open the stores with "
            "AzureStores.open(config) (it creates tables, containers and queues) or call ensure() at start"
        )

    def delete_matching(self, filter_: str, parameters: Mapping[str, Any]) -> int:
        """Delete every entity the filter selects (retention); one changed meanwhile is kept."""
        count = 0
        for entity in self.query(filter_, parameters, select=["PartitionKey", "RowKey"]):
            try:
                self.delete(entity["PartitionKey"], entity["RowKey"], etag=entity["_etag"] or None)
            except ResourceNotFoundError:
                continue
            except HttpResponseError as error:
                if is_precondition_failed(error):
                    continue
                raise
            count += 1
        return count

    def delete(self, partition: str, row: str, etag: str | None = None) -> None:
        if etag:
            self.table.delete_entity(partition, row, etag=etag, match_condition=MatchConditions.IfNotModified)
        else:
            self.table.delete_entity(partition, row)


def _with_etag(entity: Any) -> dict[str, Any]:
    result = dict(entity)
    result["_etag"] = entity.metadata.get("etag", "")
    return result


def _strip(entity: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if not k.startswith("_")}
