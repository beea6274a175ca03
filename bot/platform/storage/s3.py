"""Files in an S3 bucket; browsers upload straight to it with a presigned POST.

boto3 reads the region, credentials and ``AWS_ENDPOINT_URL`` itself. Without credentials the
store says it is unavailable rather than failing later with a signature error.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from bot.platform.storage.base import (
    DirectUpload,
    FileMissing,
    FileStore,
    FileTooLarge,
    StorageUnavailable,
    check_key,
)

_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3FileStore(FileStore):
    def __init__(self, bucket: str) -> None:
        self._bucket = bucket

    @functools.cached_property
    def _client(self) -> Any:
        session = boto3.session.Session()
        if session.get_credentials() is None:
            raise StorageUnavailable("no AWS credentials are configured")
        return session.client("s3")

    def put(self, key: str, content: bytes, content_type: str) -> None:
        self._call(
            "put_object",
            Bucket=self._bucket,
            Key=check_key(key),
            Body=content,
            ContentType=content_type,
        )

    def get(self, key: str, max_bytes: int) -> bytes:
        answer = self._call("get_object", Bucket=self._bucket, Key=check_key(key))
        body = answer["Body"]
        try:
            if (answer.get("ContentLength") or 0) > max_bytes:
                raise FileTooLarge(key)
            content: bytes = body.read(max_bytes + 1)
        finally:
            body.close()
        if len(content) > max_bytes:
            raise FileTooLarge(key)
        return content

    def delete(self, key: str) -> None:
        self._call("delete_object", Bucket=self._bucket, Key=check_key(key))

    def direct_upload(
        self, key: str, max_bytes: int, redirect_url: str, expires_in: int
    ) -> DirectUpload:
        """S3 checks the size and key; the file's type is sniffed once it arrives (a form
        posted by a plain HTML page cannot say the type of the file chosen)."""
        post = self._call(
            "generate_presigned_post",
            Bucket=self._bucket,
            Key=check_key(key),
            Fields={"success_action_redirect": redirect_url},
            Conditions=[
                ["content-length-range", 1, max_bytes],
                {"success_action_redirect": redirect_url},
            ],
            ExpiresIn=expires_in,
        )
        return DirectUpload(post["url"], dict(post["fields"]))

    def download_url(self, key: str, expires_in: int) -> str:
        return str(
            self._call(
                "generate_presigned_url",
                "get_object",
                Params={"Bucket": self._bucket, "Key": check_key(key)},
                ExpiresIn=expires_in,
            )
        )

    def _call(self, operation: str, *positional: Any, **arguments: Any) -> Any:
        try:
            return getattr(self._client, operation)(*positional, **arguments)
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code")) in _MISSING:
                raise FileMissing(arguments.get("Key", "")) from None
            raise StorageUnavailable(type(error).__name__) from error
        except BotoCoreError as error:
            raise StorageUnavailable(type(error).__name__) from error
