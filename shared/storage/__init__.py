"""The one storage both services use; they must agree on it byte for byte.

Storage (Protocol, `protocol.py`)   put, put_file, read, stream, size, exists, delete,
│                                   delete_prefix, list, local_file, check_writable
├── LocalStorage (`local.py`)       files under DATA_DIR: temp file, fsync, rename
└── MemoryStorage (`memory.py`)     a dict, for unit tests
"""

from shared.settings import Settings
from shared.storage.local import LocalStorage
from shared.storage.protocol import NotFound, Storage

__all__ = ["LocalStorage", "NotFound", "Storage", "open_storage"]


def open_storage(settings: Settings) -> Storage:
    """The backend the settings name: today always files under DATA_DIR."""
    return LocalStorage(settings.data_dir)
