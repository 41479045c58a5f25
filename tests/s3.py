"""A real S3-protocol endpoint for the tests: moto's standalone server, started once per run
(`s3_server` in tests/conftest.py), and a bucket of each test's own on it."""

import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from scripts.ports import answers
from tests.support import free_port

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

# moto takes any credentials; these only have to be present.
ACCESS_KEY_ID, SECRET_ACCESS_KEY = "test-key", "test-secret"
REGION = "us-east-1"
START_SECONDS = 30
# One session for the tests' own clients: it loads S3's service model once, not per client.
_SESSION = get_session()


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    @classmethod
    @contextmanager
    def started(cls, log: Path) -> Iterator["S3Server"]:
        """moto's server on a free local port, stopped afterwards."""
        port = free_port()
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        endpoint = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_SECONDS
            while not answers(endpoint):
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"moto did not start: {log.read_text()}"
                time.sleep(0.05)
            yield cls(endpoint)
        finally:
            process.terminate()
            process.wait(timeout=10)

    @asynccontextmanager
    async def client(self) -> AsyncIterator["S3Client"]:
        """A client of the tests' own, for what the services never do (buckets, listings)."""
        async with _SESSION.create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        ) as client:
            yield client


@dataclass(frozen=True)
class Bucket:
    """A bucket of a test's own; `settings` point a service's storage at it (under `prefix`)."""

    server: S3Server
    name: str
    prefix: str = "images"

    def settings(self, endpoint: str | None = None, **overrides: Any) -> dict[str, Any]:
        """Settings fields for storage in this bucket, through `endpoint` (a proxy) if given."""
        return {
            "storage_url": f"s3://{self.name}/{self.prefix}",
            "s3_endpoint_url": endpoint or self.server.endpoint,
            "aws_region": REGION,
            "aws_access_key_id": ACCESS_KEY_ID,
            "aws_secret_access_key": SECRET_ACCESS_KEY,
            **overrides,
        }

    async def create(self) -> None:
        async with self.server.client() as client:
            await client.create_bucket(Bucket=self.name)

    async def empty(self) -> None:
        """Delete every object, as a lifecycle rule does once they are old enough."""
        async with self.server.client() as client:
            for key in await self.keys(client):
                await client.delete_object(Bucket=self.name, Key=key)

    async def remove(self) -> None:
        """Delete every object, then the bucket (S3 deletes only empty ones); gone is fine."""
        try:
            await self.empty()
            async with self.server.client() as client:
                await client.delete_bucket(Bucket=self.name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
                raise

    async def keys(self, client: "S3Client | None" = None) -> list[str]:
        """Every key in the bucket, prefix and all."""
        if client is None:
            async with self.server.client() as own:
                return await self.keys(own)
        keys = []
        async for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.name):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return keys

    @classmethod
    @asynccontextmanager
    async def of_own(cls, server: S3Server) -> AsyncIterator["Bucket"]:
        bucket = cls(server, f"test-{uuid.uuid4().hex[:16]}")
        await bucket.create()
        try:
            yield bucket
        finally:
            await bucket.remove()


def storage_settings(bucket: Bucket | None) -> dict[str, Any]:
    """Settings fields for storage in `bucket`; none (files under DATA_DIR) without one."""
    return {} if bucket is None else bucket.settings()
