"""``wattwatch levers MODEL [MODEL2]``: measure the levers -- batch size, precision, architecture -- on your own
model and machine: J/token, J/request, tokens/s, latency, peak memory, perplexity and greedy-output agreement
per configuration, the Pareto front of J/token against perplexity, and per-request energies that add up to the
measured energy. See ``docs/levers.md``.

Options are checked and files read before any model loads; torch and transformers load only here, inside
:func:`run`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING

from wattwatch.errors import UsageError

if TYPE_CHECKING:
    from wattwatch.levers.inputs import TextInput

__all__ = ["HELP", "add_arguments", "run"]

HELP = (
    "Measure J/token, latency and quality of a model over batch sizes and precisions (tiny-gpt2 and tiny-mixtral "
    "built in), with per-request energy that adds up."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "models", nargs="+", metavar="MODEL",
        help="tiny-gpt2, tiny-mixtral (built from a config, nothing downloaded), a local folder or a Hugging Face "
        "id; a second MODEL is compared side by side with `compare`'s estimate",
    )  # fmt: skip
    parser.add_argument("--batch-sizes", default="1,8,32", help="comma-separated batch sizes (default 1,8,32)")
    parser.add_argument(
        "--dtypes", default="fp32,bf16,fp16,int8,int4",
        help="precisions to try (default all: fp32,bf16,fp16,int8,int4); those this machine cannot run are "
        "listed as skipped with the reason",
    )  # fmt: skip
    parser.add_argument("--new-tokens", type=int, default=32, help="tokens generated per request (default 32)")
    parser.add_argument("--prompts", metavar="FILE", help="UTF-8 text file, one prompt per line (default: 32 bundled)")
    parser.add_argument(
        "--eval-text", metavar="FILE",
        help="UTF-8 text for perplexity (default: Pride and Prejudice, chapter 1, bundled)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    parser.add_argument("--html", metavar="FILE", help="also write the results as an HTML page")
    parser.add_argument(
        "--window-s", type=float, default=5.0, help="shortest steady-state window per configuration (default 5 s)"
    )
    parser.add_argument("--warmup-s", type=float, default=1.0, help="warm-up before each window (default 1 s)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: CUDA if present")
    parser.add_argument(
        "--tracking-mode", default="machine", choices=("machine", "process"),
        help="the tracker's: machine (whole machine, idle included; default) or process (this process's CPU share)",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=int,
        help="torch CPU threads (default: torch's, or 1 when a probe finds one faster -- a machine busy with other "
        "work makes torch's threads wait for each other)",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def _check(args: argparse.Namespace) -> None:
    if len(args.models) > 2:
        raise UsageError(f"at most two models (MODEL MODEL2); got {len(args.models)}")
    if not 1 <= args.new_tokens <= 4096:
        raise UsageError(f"--new-tokens must be between 1 and 4096; got {args.new_tokens}")
    for name in ("window_s", "warmup_s"):
        value = getattr(args, name)
        if not (value >= 0 and value <= 3600) or (name == "window_s" and value <= 0):
            raise UsageError(f"--{name.replace('_', '-')} must be {'> 0' if name == 'window_s' else '>= 0'} and at most 3600 s")
    if args.threads is not None and not 1 <= args.threads <= 1024:
        raise UsageError(f"--threads must be between 1 and 1024; got {args.threads}")
    if args.html:
        if os.path.isdir(args.html):
            raise UsageError(f"--html {args.html!r} is a folder; give a file name")
        folder = os.path.dirname(os.path.abspath(args.html))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise UsageError(f"--html {args.html!r}: folder {folder!r} does not exist or is not writable")


def run(args: argparse.Namespace) -> int:
    """Check everything, then measure, print the table (or JSON) and write the page."""
    from wattwatch.levers.inputs import parse_batch_sizes, parse_dtypes, read_eval_text, read_prompts

    _check(args)
    batch_sizes = parse_batch_sizes(args.batch_sizes)
    dtypes = parse_dtypes(args.dtypes)
    prompts = read_prompts(args.prompts)
    eval_text = read_eval_text(args.eval_text)
    try:
        import torch  # noqa: F401
        import transformers
    except ImportError as exc:
        raise UsageError(f"levers needs torch and transformers ({exc.name} is missing): pip install -e '.[hf]' in wattwatch's clone") from None
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # generate's notices are not the user's business here
    try:
        return _sweep(args, batch_sizes, dtypes, prompts, eval_text)
    finally:
        transformers.logging.set_verbosity(verbosity)


def _sweep(
    args: argparse.Namespace, batch_sizes: list[int], dtypes: list[str], prompts: list[str], eval_text: TextInput
) -> int:
    from wattwatch.levers.sweep import SweepOptions, run_sweep

    opts = SweepOptions(
        models=list(args.models), batch_sizes=batch_sizes, dtypes=dtypes, new_tokens=args.new_tokens,
        prompts=prompts, eval_text=eval_text, window_s=args.window_s, warmup_s=args.warmup_s, device=args.device,
        tracking_mode=args.tracking_mode, threads=args.threads,
    )  # fmt: skip

    def progress(line: str) -> None:
        if not args.quiet:
            print(f"levers: {line}", file=sys.stderr, flush=True)

    result = run_sweep(opts, progress)
    if args.json:
        print(json.dumps(result.as_json(), indent=1, allow_nan=False))
    else:
        from wattwatch.levers.text import render_text

        print(render_text(result))
    if args.html:
        from wattwatch.levers.html import write_page

        path = write_page(result, args.html)
        progress(f"HTML written to {path}")
    return 0 if result.configs else 1
