"""The one storage both services use; they must agree on it byte for byte.

Storage (Protocol, `protocol.py`)   put, put_file, read, stream, size, exists, delete,
│                                   delete_prefix, list, local_file, check_writable
├── LocalStorage (`local.py`)       files under DATA_DIR: temp file, fsync, rename
├── S3Storage (`s3.py`)             objects under STORAGE_URL's bucket and prefix
└── MemoryStorage (`memory.py`)     a dict, for unit tests
"""

import contextlib
from collections.abc import AsyncIterator

from shared.settings import Settings
from shared.storage.local import LocalStorage
from shared.storage.protocol import NotFound, Storage
from shared.storage.s3 import S3Storage

__all__ = ["LocalStorage", "NotFound", "S3Storage", "Storage", "open_storage"]


@contextlib.asynccontextmanager
async def open_storage(settings: Settings) -> AsyncIterator[Storage]:
    """The backend the settings name, open while the block runs (each service holds it for
    its whole life): S3 with an s3:// STORAGE_URL, else files under DATA_DIR."""
    if settings.storage_url is None:
        yield LocalStorage(settings.data_dir)
        return
    async with S3Storage.open(settings) as storage:
        yield storage
