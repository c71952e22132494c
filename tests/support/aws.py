"""moto's in-process AWS for the tests: fake credentials, and Firehose DirectPut streams that
write to an S3 prefix named after them (moto's stand-in for Iceberg and HTTP destinations),
with what they delivered."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

REGION = "eu-west-1"


@contextmanager
def fake_aws() -> Iterator[None]:
    """moto's in-process AWS with fake credentials in REGION (and no AWS_ENDPOINT_URL)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            patch.setenv(name, value)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        with mock_aws():
            yield


def create_stream(name: str, bucket: str) -> None:
    """A DirectPut stream writing to `bucket` under `name/` (the bucket made if missing)."""
    s3 = boto3.client("s3", region_name=REGION)
    if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    boto3.client("firehose", region_name=REGION).create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": f"{name}/",
        },
    )


def delivered_objects(bucket: str, stream: str) -> list[bytes]:
    """The objects the stream wrote (moto writes one per PutRecord/PutRecordBatch call)."""
    s3 = boto3.client("s3", region_name=REGION)
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"{stream}/").get("Contents", [])
    return [s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listing]


def delivered_json(bucket: str, stream: str) -> list[Any]:
    """Every JSON value the stream wrote (moto concatenates a call's records)."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    for body in delivered_objects(bucket, stream):
        text = body.decode()
        position = 0
        while position < len(text):
            value, position = decoder.raw_decode(text, position)
            found.append(value)
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_athena_server(workgroup: str, output: str) -> Iterator[str]:
    """A moto server on a free loopback port, the environment pointed at it (fake credentials,
    REGION), an Athena workgroup writing to `output` and its bucket; yields the server's URL.

    moto's backends live in this process, shared by every server it starts: it begins reset."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    reset = urllib.request.Request(f"{url}/moto-api/reset", data=b"{}", method="POST")  # noqa: S310  # the local moto server
    with urllib.request.urlopen(reset, timeout=10):  # noqa: S310  # idem
        pass
    env = {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            boto3.client("athena").create_work_group(
                Name=workgroup, Configuration={"ResultConfiguration": {"OutputLocation": output}}
            )
            boto3.client("s3").create_bucket(
                Bucket=output.removeprefix("s3://").split("/", 1)[0],
                CreateBucketConfiguration={"LocationConstraint": REGION},
            )
            yield url
    finally:
        server.stop()


def moto_post(url: str, body: dict[str, Any]) -> None:
    """POST `body` as JSON to an endpoint of the local moto server's own API."""
    request = urllib.request.Request(  # noqa: S310  # the local moto server
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  # idem
        assert response.status in (200, 201)


def queue_athena_results(
    url: str, columns: list[tuple[str, str]], rows: list[list[str | None]]
) -> None:
    """Queue one canned Athena result on the moto server at `url`: the header row, then `rows`
    (strings, None for NULL), with every column-info field pyathena needs."""
    info = [
        {
            "CatalogName": "hive",
            "SchemaName": "",
            "TableName": "",
            "Name": name,
            "Label": name,
            "Type": kind,
            "Precision": 0,
            "Scale": 0,
            "Nullable": "UNKNOWN",
            "CaseSensitive": kind == "varchar",
        }
        for name, kind in columns
    ]

    def cells(values: list[str | None]) -> dict[str, Any]:
        return {"Data": [{} if v is None else {"VarCharValue": v} for v in values]}

    header = cells([name for name, _ in columns])
    moto_post(
        f"{url}/moto-api/static/athena/query-results",
        {
            "account_id": "123456789012",
            "region": REGION,
            "results": [{"rows": [header, *map(cells, rows)], "column_info": info}],
        },
    )


def athena_executions(workgroup: str) -> list[dict[str, Any]]:
    """Every query execution moto recorded in `workgroup`."""
    athena = boto3.client("athena")
    ids = athena.list_query_executions(WorkGroup=workgroup)["QueryExecutionIds"]
    return [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]


def last_athena_execution(workgroup: str) -> dict[str, Any]:
    """The execution moto recorded last in `workgroup`."""
    return max(athena_executions(workgroup), key=lambda e: e["Status"]["SubmissionDateTime"])
