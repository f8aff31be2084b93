"""Local DynamoDB: moto in server mode, tables created as the dev stage declares them, state kept on disk.

The tool handlers reach it through `AWS_ENDPOINT_URL_DYNAMODB`, with their real boto3 code. moto keeps data
in memory, so the tables are written to `<state>/dynamodb/<table>.json` when the stage stops and loaded from
there when it starts again; a table with no saved state is seeded from `lambdas/<target>/seed.json`, as the
deployed stage seeds it when the table is created.

Item answers are written straight as JSON (`plain_json_item_answers`): moto 5.2 writes every answer through
its shape-driven serializer, which took ~12 ms of the 20 ms one GetItem of an order took at the local server
(it tries several key spellings for each of the ten members of every attribute value). An item answer
of moto's DynamoDB backend is already in the wire's JSON form (`{"Item": {"name": {"S": ...}}}`), so
`json.dumps` of it is the same answer; one holding a value only the serializer can write (bytes for a B
attribute, a datetime in a table description) still goes through the serializer.
tests/local/test_local_dynamodb.py checks the two agree, answer by answer.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import boto3

with warnings.catch_warnings():  # "install moto[server]": only Flask is needed for DynamoDB, and it is pinned
    warnings.simplefilter("ignore", UserWarning)
    from moto.server import ThreadedMotoServer

from moto.core.responses import ActionContext
from moto.dynamodb.responses import DynamoResult
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from local.dev_stage import Table
from local.lambda_context import LAMBDAS_DIR, SHARED_LAYER_DIR
from local.moto_models import prepare_services

if str(SHARED_LAYER_DIR) not in sys.path:
    sys.path.insert(0, str(SHARED_LAYER_DIR))

from gateway_tool.dynamodb import batch_write_request, load_seed, unmarshal_item

BATCH = 25  # BatchWriteItem's limit
_serialized = DynamoResult.execute_result


def _plain_json(result: DynamoResult, context: ActionContext) -> tuple[int, dict[str, str], str]:
    """A DynamoDB answer as `json.dumps` of moto's result, or through moto's serializer when that fails."""
    try:
        body = json.dumps(result.result, separators=(",", ":"))
    except TypeError:  # bytes or datetime: only the serializer knows their wire form
        return _serialized(result, context)  # type: ignore[return-value]
    return 200, {"Content-Type": "application/x-amz-json-1.0"}, body


class _SerializedApp:
    """moto's WSGI app answering one request at a time, as DynamoDB isolates transactions.

    moto runs TransactWriteItems by copying the tables, applying the items and, when a condition fails,
    putting the copies back; with the server's request threads that restore undoes what concurrent calls
    wrote in between (20 parallel reservations moved units without holds). One lock around the whole
    backend makes every transaction and conditional write atomic; moto's handlers hold the GIL anyway, so
    the lock costs next to no throughput.
    """

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))  # the whole answer, before the next request


class _LocalMotoServer(ThreadedMotoServer):
    """moto's threaded server, serialized, on 127.0.0.1: on a free port, or on a listening socket the caller
    bound (the agent process is told the local DynamoDB's URL before the server starts: the stage starts
    moto while the agent boots)."""

    def __init__(self, sock: socket.socket | None) -> None:
        port = 0 if sock is None else sock.getsockname()[1]
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        self._socket = sock

    def _server_entry(self) -> None:
        app = _SerializedApp(DomainDispatcherApplication(create_backend_app))
        fd = None if self._socket is None else self._socket.fileno()
        self._server = make_server("127.0.0.1", 0, app, True, request_handler=MotoRequestHandler, fd=fd)
        self._server_ready_event.set()
        self._server.serve_forever()


def plain_json_item_answers() -> None:
    """Write moto's DynamoDB item answers as plain JSON from now on, in this process (idempotent)."""
    DynamoResult.execute_result = _plain_json  # type: ignore[assignment, method-assign]


class LocalDynamoDB:
    """A moto server on 127.0.0.1 (free port, or `sock`: bound and listening) holding the stage's tables."""

    def __init__(
        self, state_dir: Path, tables: list[Table], region: str, *, sock: socket.socket | None = None
    ) -> None:
        self.state_dir = state_dir / "dynamodb"
        self.tables = tables
        self.region = region
        self._server = _LocalMotoServer(sock)

    @property
    def endpoint_url(self) -> str:
        """The value for AWS_ENDPOINT_URL_DYNAMODB."""
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def client(self) -> Any:
        return boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def start(self) -> LocalDynamoDB:
        """Start moto, create every table and fill it from saved state or its seed file."""
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request in the foreground
        plain_json_item_answers()
        prepare_services(("dynamodb",))  # before the server's request threads race on moto's lazy first use
        self._server.start()
        client = self.client()
        for table in self.tables:
            client.create_table(BillingMode="PAY_PER_REQUEST", **table.definition)
            items = self._saved(table) if self._state_file(table).exists() else self._seed(table)
            for start in range(0, len(items), BATCH):
                client.batch_write_item(**batch_write_request(table.name, items[start : start + BATCH]))
        return self

    def save(self) -> None:
        """Write every table's items (DynamoDB JSON) under the state directory."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        paginator = self.client().get_paginator("scan")
        for table in self.tables:
            items = [item for page in paginator.paginate(TableName=table.name) for item in page["Items"]]
            target = self._state_file(table)
            target.with_suffix(".tmp").write_text(json.dumps(items))
            target.with_suffix(".tmp").replace(target)

    def stop(self) -> None:
        self._server.stop()

    def _state_file(self, table: Table) -> Path:
        return self.state_dir / f"{table.name}.json"

    def _saved(self, table: Table) -> list[dict[str, Any]]:
        return [unmarshal_item(item) for item in json.loads(self._state_file(table).read_text())]

    @staticmethod
    def _seed(table: Table) -> list[dict[str, Any]]:
        target = table.name.split("-", 1)[1]
        seed = LAMBDAS_DIR / target / "seed.json"
        return load_seed(seed) if seed.exists() else []
