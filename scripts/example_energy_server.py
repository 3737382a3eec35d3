"""A small HTTP server that returns, with each completion, the energy that request used (CPU, tiny-gpt2 by default).

    python scripts/example_energy_server.py [--model tiny-gpt2] [--port 8000] [--max-batch 8] [--out DIR]
    curl -s localhost:8000/generate -d '{"prompt": "Hello", "max_tokens": 16}'
    {"text": "...", "prompt_tokens": 5, "new_tokens": 16, "energy_j": 0.41, "prefill_j": 0.03, "decode_j": 0.38}
    curl -s localhost:8000/stats         # J/token and J/request so far, energy spent outside requests

One worker thread takes the requests waiting (up to ``--max-batch``) and runs them as one batched ``generate``
through :class:`~wattwatch.callbacks.torch.GenerationMeter`, each with its own ``max_tokens``. A request's
``energy_j`` is its share of the batch's prefill (by prompt tokens) plus an equal share of every decode step it
took part in; the requests of a batch add up to the energy the tracker measured for it, and what the server
spends between batches is kept apart (``idle_j`` in ``/stats``), not charged to the next request.
"""

from __future__ import annotations

import argparse
import json
import queue
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_TOKENS = 256
MAX_BODY = 64 * 1024


@dataclass
class Job:
    """One request waiting for the worker: its prompt's token ids and its own new-token limit."""

    prompt_ids: list[int]
    max_tokens: int
    done: threading.Event = field(default_factory=threading.Event)
    result: dict[str, Any] = field(default_factory=dict)


class EnergyServer:
    """The model, its tracker and meter, the worker thread and the HTTP server (``port=0``: any free port)."""

    def __init__(self, model_name: str = "tiny-gpt2", *, out_dir: str, max_batch: int = 8,
                 host: str = "127.0.0.1", port: int = 8000) -> None:  # fmt: skip
        from wattwatch.callbacks.torch import GenerationMeter

        from wattwatch import Tracker
        from wattwatch.levers.models import load_model, resolve_model

        self.source = resolve_model(model_name)
        self.model = load_model(self.source)
        self.tracker = Tracker(project_name="energy-server", output_dir=out_dir, handle_signals=False)
        self.meter = GenerationMeter(self.tracker)
        self.max_batch = max_batch
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self.http = ThreadingHTTPServer((host, port), _handler(self))
        self._threads = [
            threading.Thread(target=self._work, name="energy-server-worker", daemon=True),
            threading.Thread(target=self.http.serve_forever, name="energy-server-http", daemon=True),
        ]

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.http.server_address[:2]
        return str(host), int(port)

    def start(self) -> EnergyServer:
        """Start measuring, serving HTTP, and the worker (:meth:`start_worker`)."""
        return self.start_http().start_worker()

    def start_http(self) -> EnergyServer:
        """Start measuring and accepting requests (they queue until the worker starts)."""
        self.tracker.start()
        self._threads[1].start()
        return self

    def start_worker(self) -> EnergyServer:
        self._threads[0].start()
        return self

    def stop(self) -> None:
        self.http.shutdown()
        self.jobs.put(None)
        self._threads[0].join(timeout=30)
        self.http.server_close()
        self.tracker.stop()

    def submit(self, prompt: str, max_tokens: int) -> dict[str, Any]:
        """Queue a request and wait for its result (called by the HTTP handler threads)."""
        ids = self.source.tokenizer.encode(prompt)[-(self.source.max_positions - MAX_TOKENS) :] or [self.source.tokenizer.pad_id]
        job = Job(ids, max_tokens)
        self.jobs.put(job)
        job.done.wait()
        return job.result

    def stats(self) -> dict[str, Any]:
        rep = self.meter.report()
        return {
            "requests": rep.requests,
            "generated_tokens": rep.generated_tokens,
            "energy_j": rep.energy_j,
            "joules_per_token": rep.joules_per_token,
            "joules_per_request": rep.joules_per_request,
            "attributed_j": self.meter.attributor.attributed_j,
            "idle_j": self.meter.attributor.idle_j,
        }

    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            batch = [job]
            while len(batch) < self.max_batch:
                try:
                    more = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self.jobs.put(None)
                    break
                batch.append(more)
            try:
                self._run(batch)
            except Exception as exc:  # noqa: BLE001 -- an error answers the batch; the server keeps serving
                for j in batch:
                    j.result = {"error": f"{type(exc).__name__}: {exc}"}
            for j in batch:
                j.done.set()

    def _run(self, batch: Sequence[Job]) -> None:
        import torch

        from wattwatch.levers.window import make_batch

        tok = self.source.tokenizer
        ids, mask = make_batch([j.prompt_ids for j in batch], tok.pad_id, "cpu")
        with torch.inference_mode():
            out = self.meter.generate(
                self.model, ids, attention_mask=mask, max_new_tokens=max(j.max_tokens for j in batch),
                do_sample=False, pad_token_id=tok.pad_id, request_new_tokens=[j.max_tokens for j in batch],
            )  # fmt: skip
        rows = out[:, ids.shape[1] :].tolist()
        for j, row, energy in zip(batch, rows, self.meter.last_requests, strict=True):
            decode = getattr(tok, "decode", None)
            j.result = {
                "text": decode(row[: energy.new_tokens]) if decode else row[: energy.new_tokens],
                "prompt_tokens": energy.prompt_tokens,
                "new_tokens": energy.new_tokens,
                "energy_j": energy.energy_j,
                "prefill_j": energy.prefill_j,
                "decode_j": energy.decode_j,
                "batch": len(batch),
            }


def _handler(server: EnergyServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 -- http.server's name
            if self.path == "/stats":
                self._send(200, server.stats())
            else:
                self._send(404, {"error": "GET /stats or POST /generate"})

        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/generate":
                self._send(404, {"error": "POST /generate"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= MAX_BODY:
                    raise ValueError(f"a JSON body of at most {MAX_BODY} bytes is needed")
                body = json.loads(self.rfile.read(length))
                prompt, max_tokens = body.get("prompt"), body.get("max_tokens", 16)
                if not isinstance(prompt, str) or not prompt:
                    raise ValueError('"prompt" must be a non-empty string')
                if not isinstance(max_tokens, int) or not 1 <= max_tokens <= MAX_TOKENS:
                    raise ValueError(f'"max_tokens" must be an integer from 1 to {MAX_TOKENS}')
            except (ValueError, AttributeError) as exc:
                self._send(400, {"error": str(exc).splitlines()[0][:200]})
                return
            result = server.submit(prompt, max_tokens)
            self._send(500 if "error" in result else 200, result)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-gpt2")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--out", default=None, help="folder for emissions.csv (default: a temporary folder)")
    opts = parser.parse_args(argv)
    out = opts.out or tempfile.mkdtemp(prefix="wattwatch-server-")
    server = EnergyServer(opts.model, out_dir=out, max_batch=opts.max_batch, host=opts.host, port=opts.port).start()
    host, port = server.address
    print(f"serving {opts.model} on http://{host}:{port}/generate (emissions.csv in {out}); Ctrl-C stops")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
