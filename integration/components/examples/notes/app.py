"""notes: a small HTTP notes service, as a WebAssembly component.

It targets the `lattice:components/http-messaging-app` world
(`wit/components.wit`): every request arrives through
`wasi:http/incoming-handler`, every message of its messaging link's
subscriptions through `wasmcloud:messaging/handler`, notes live in
`wasi:keyvalue`, each saved note publishes an event on
`wasmcloud:messaging`, and `/secret` proves a secret can be read through
`wasmcloud:secrets` without ever printing it.

Routes:
  GET  /                 what this is, and the routes
  GET  /version          which build of this component answered
  PUT  /notes/NAME       store the body as note NAME (201), publish an event
  GET  /notes/NAME       the note (200), or 404
  DELETE /notes/NAME     forget it (204)
  GET  /notes            the names of every note, one per line
  POST /count            add one to the visit counter, answer the new value
  GET  /secret           a fingerprint of the configured secret, never the value
  GET  /trap             raises: the host answers 500 and lives on
  GET  /spin             loops forever: stopped at the time limit, 500
  GET  /hog              asks for 2 GiB: refused by the memory limit, 500

Messages: a message `NAME=TEXT` stores note NAME, as a PUT would; a
message without `=` is refused (the handler's error).

Configuration (`wasi:config/runtime`, from the manifest's `config`):
  bucket          the key-value bucket (default: the link's default)
  events_subject  where saved notes are announced (default `notes.saved`)
  secret_key      the secret `/secret` reads (default `notes/api#token`)
"""

import hashlib
import json

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import (
    atomics,
    consumer,
    logging,
    reveal,
    runtime,
    wasi_keyvalue_store as store,
    wasmcloud_messaging_types as mtypes,
    wasmcloud_secrets_store as secrets,
)
from wit_world.imports.streams import StreamError_Closed
from wit_world.imports.wasi_http_types import (
    Fields,
    IncomingRequest,
    Method_Delete,
    Method_Get,
    Method_Post,
    Method_Put,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)

MAX_BODY = 1 << 20
# scripts/build-components.sh builds this file twice, the second time with
# this set to "2", so that a rolling replace has a new version to roll out.
VERSION = "1"


def config(key: str, default: str) -> str:
    try:
        value = runtime.get(key)
    except Err:
        return default
    return default if value is None else value


def describe_error(e: Err) -> str:
    """The interface's own error, as text: `no-such-store`, `other(...)`."""
    v = e.value
    name = type(v).__name__.split("_", 1)[-1]
    inner = getattr(v, "value", None)
    return name if inner is None else f"{name}: {inner}"


def read_body(request: IncomingRequest) -> bytes:
    body = request.consume()
    stream = body.stream()
    out = bytearray()
    try:
        while len(out) <= MAX_BODY:
            out += stream.blocking_read(65536)
    except Err as e:
        if not isinstance(e.value, StreamError_Closed):
            raise
    stream.__exit__(None, None, None)
    return bytes(out)


def respond(out: ResponseOutparam, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
    headers = Fields.from_list([("content-type", ctype.encode())])
    resp = OutgoingResponse(headers)
    resp.set_status_code(status)
    outgoing = resp.body()
    ResponseOutparam.set(out, Ok(resp))
    stream = outgoing.write()
    for i in range(0, len(body), 4096):
        stream.blocking_write_and_flush(body[i : i + 4096])
    stream.__exit__(None, None, None)
    OutgoingBody.finish(outgoing, None)


def bucket():
    return store.open(config("bucket", ""))


def save(name: str, text: bytes) -> None:
    with bucket() as b:
        b.set("note:" + name, text)
    event = json.dumps({"note": name, "bytes": len(text)}).encode()
    consumer.publish(mtypes.BrokerMessage(config("events_subject", "notes.saved"), event, None))
    logging.log(logging.Level.INFO, "notes", f"saved {name} ({len(text)} bytes)")


class Handler(exports.Handler):
    def handle_message(self, msg: mtypes.BrokerMessage) -> None:
        name, sep, text = msg.body.partition(b"=")
        if not sep or not name:
            raise Err(f"a message is NAME=TEXT, not {len(msg.body)} bytes without '='")
        save(name.decode("utf-8", "replace"), text)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        method = request.method()
        path = (request.path_with_query() or "/").split("?", 1)[0]
        try:
            status, body = self.route(method, path, request)
        except Err as e:
            # An import answered its interface's error (no link, backend
            # down): say which, as a 503, and keep serving.
            logging.log(logging.Level.WARN, "notes", f"{path}: {describe_error(e)}")
            status, body = 503, f"unavailable: {describe_error(e)}\n".encode()
        respond(response_out, status, body)

    def route(self, method, path, request):
        if path == "/" and isinstance(method, Method_Get):
            return 200, __doc__.encode()
        if path == "/version":
            return 200, f"notes {VERSION}\n".encode()
        if path == "/trap":
            raise RuntimeError("asked to trap")
        if path == "/spin":
            while True:
                pass
        if path == "/hog":
            hog = bytearray(2 << 30)
            return 200, f"{len(hog)} bytes granted\n".encode()
        if path == "/count" and isinstance(method, Method_Post):
            with bucket() as b:
                n = atomics.increment(b, "visits", 1)
            return 200, f"{n}\n".encode()
        if path == "/secret" and isinstance(method, Method_Get):
            with secrets.get(config("secret_key", "notes/api#token")) as s:
                value = reveal.reveal(s)
            raw = value.value.encode() if isinstance(value.value, str) else value.value
            digest = hashlib.sha256(raw).hexdigest()[:16]
            return 200, f"secret sha256 {digest}\n".encode()
        if path == "/notes" and isinstance(method, Method_Get):
            with bucket() as b:
                keys = b.list_keys(None).keys
            names = sorted(k[len("note:"):] for k in keys if k.startswith("note:"))
            return 200, "".join(n + "\n" for n in names).encode()
        if path.startswith("/notes/") and len(path) > len("/notes/"):
            name = path[len("/notes/"):]
            key = "note:" + name
            if isinstance(method, Method_Get):
                with bucket() as b:
                    value = b.get(key)
                return (404, b"no such note\n") if value is None else (200, value)
            if isinstance(method, Method_Put) or isinstance(method, Method_Post):
                text = read_body(request)
                if len(text) > MAX_BODY:
                    return 413, b"a note is at most 1 MiB\n"
                save(name, text)
                return 201, b"saved\n"
            if isinstance(method, Method_Delete):
                with bucket() as b:
                    b.delete(key)
                return 204, b""
        return 404, b"not found\n"
