"""An empty database to migrate: a new SQLite file, or a new database on the test server."""

from dataclasses import dataclass, field
from typing import Any

from producer_service.db.database import Database, open_database


@dataclass(frozen=True)
class EmptyDatabase:
    url: str
    connect_args: dict[str, Any] = field(default_factory=dict)

    def open(self) -> Database:
        return open_database(self.url, connect_args=self.connect_args)
