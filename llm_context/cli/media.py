"""`llm-context embed`, `image` and `raw`: the non-chat endpoints."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..contract.images import image_filename, read_image_file, sniff_image_type
from ..contract.request import InputImage
from ..errors import LLMInputError
from .common import CLIError, client_for, print_usage, read_json_arg, say

__all__ = ["add_parsers"]

EMBED_DESCRIPTION = """\
Embed texts and print one JSON object per line: {"index", "text", "embedding"}.
Use "-" to read texts from standard input, one per line.

examples:
  llm-context embed "fjord" "glacier"
  llm-context embed --summary -p gemini "fjord"
  cat lines.txt | llm-context embed - > vectors.jsonl
"""
IMAGE_DESCRIPTION = """\
Generate an image (or edit --input images) and save it.

examples:
  llm-context image "a lighthouse at dusk, watercolour" -o lighthouse.png
  llm-context image "add a red boat" --input harbour.png -o harbour-boat.png
  llm-context image -n 3 "logo ideas" -o logo.png      # logo-1.png, logo-2.png, logo-3.png
"""
RAW_DESCRIPTION = """\
Send an HTTP request to the provider with the profile's base URL and auth, and print the
JSON reply (or the text, when it is not JSON).

examples:
  llm-context raw GET /models
  llm-context raw -p claude GET /models --param limit=5
  llm-context raw POST /embeddings --json '{"model": "text-embedding-3-small", "input": "hi"}'
  llm-context raw POST /responses --json @request.json
"""


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register `embed`, `image` and `raw` on the command parser."""
    raw_format = argparse.RawDescriptionHelpFormatter
    embed = commands.add_parser(
        "embed",
        help="embed texts (JSON lines out)",
        description=EMBED_DESCRIPTION,
        parents=[common],
        formatter_class=raw_format,
    )
    embed.add_argument("texts", nargs="+", metavar="TEXT", help='texts to embed; "-" reads stdin')
    embed.add_argument("--model", "-m", help="the embedding model (default: the profile's)")
    embed.add_argument("--dimensions", type=int, metavar="N", help="vector size, where supported")
    embed.add_argument(
        "--summary", action="store_true", help="print sizes and the first values, not vectors"
    )
    embed.add_argument("--usage", action="store_true", help="print token usage to stderr")
    embed.set_defaults(run=run_embed)

    image = commands.add_parser(
        "image",
        help="generate or edit an image",
        description=IMAGE_DESCRIPTION,
        parents=[common],
        formatter_class=raw_format,
    )
    image.add_argument("prompt", help="what to draw")
    image.add_argument("-o", "--output", required=True, metavar="FILE", help="where to save")
    image.add_argument("--model", "-m", help="the image model (default: the profile's)")
    image.add_argument("-n", type=int, default=1, help="how many images (default 1)")
    image.add_argument("--size", help="e.g. 1024x1024")
    image.add_argument("--quality", help="e.g. low, medium, high")
    image.add_argument(
        "--input", action="append", metavar="FILE", help="an image to edit (repeatable)"
    )
    image.set_defaults(run=run_image)

    raw = commands.add_parser(
        "raw",
        help="an HTTP request to the provider's API",
        description=RAW_DESCRIPTION,
        parents=[common],
        formatter_class=raw_format,
    )
    raw.add_argument("method", type=str.upper, help="GET, POST, PUT, PATCH, DELETE or HEAD")
    raw.add_argument(
        "path", help="a path under the versioned API root (/models) or a full https:// URL"
    )
    raw.add_argument("--json", metavar="BODY", help="a JSON body, inline or @file.json")
    raw.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="a query parameter"
    )
    raw.add_argument(
        "--header", action="append", default=[], metavar="NAME=VALUE", help="an extra header"
    )
    raw.set_defaults(run=run_raw)


def _texts(given: list[str]) -> list[str]:
    texts: list[str] = []
    for text in given:
        if text == "-":
            texts.extend(line.strip() for line in sys.stdin if line.strip())
        else:
            texts.append(text)
    if not texts:
        raise CLIError("no texts to embed")
    return texts


def run_embed(args: argparse.Namespace) -> int:
    texts = _texts(args.texts)
    result = client_for(args).embed_sync(texts, model=args.model, dimensions=args.dimensions)
    for index, (text, vector) in enumerate(zip(texts, result.vectors, strict=True)):
        if args.summary:
            head = ", ".join(f"{v:.4f}" for v in vector[:3])
            say(f"{index}\t{len(vector)} dims\t[{head}, ...]\t{text}")
        else:
            say(json.dumps({"index": index, "text": text, "embedding": vector}))
    if args.usage:
        print_usage(result.usage)
    return 0


def _targets(output: str, n: int) -> list[Path]:
    path = Path(output)
    if n == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i}{path.suffix}") for i in range(1, n + 1)]


def run_image(args: argparse.Namespace) -> int:
    folder = Path(args.output).parent
    if not folder.is_dir():  # say so before paying for an image that cannot be saved
        raise CLIError(f"cannot save to {args.output}: no such folder {str(folder)!r}")
    llm = client_for(args)
    opts: dict[str, Any] = {"model": args.model, "n": args.n, "size": args.size}
    opts["quality"] = args.quality
    if args.input:
        opts["input_images"] = [_input_image(path) for path in args.input]
    result = llm.generate_image_sync(args.prompt, **opts)
    for image, target in zip(result.images, _targets(args.output, len(result.images)), strict=True):
        try:
            if image.b64_json is not None:
                image.save(target)
            elif image.url is not None:
                target.write_bytes(_download(image.url, llm.profile.timeout))
        except OSError as exc:
            raise CLIError(f"could not save {target}: {exc.strerror or exc}") from None
        say(f"saved {target}")
    return 0


def _input_image(path: str) -> InputImage:
    """An `--input` file, checked to be an image before anything is paid for."""
    try:
        media, data = read_image_file(path, where=f"--input {path}")
    except LLMInputError as exc:
        raise CLIError(str(exc)) from None
    return InputImage(data, media, image_filename(Path(path).stem or "image", media))


def _download(url: str, timeout: float | None) -> bytes:
    """A URL-only image. Plain `requests`, not `raw`: the provider's key must not go along."""
    import requests

    try:
        response = requests.get(url, timeout=timeout or 60)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise CLIError(
            f"could not download the image from {url.split('?')[0]}: {type(exc).__name__}"
        ) from None
    # An error page served with 200 must not be saved as `out.png`.
    if sniff_image_type(response.content) is None:
        raise CLIError(
            f"the download from {url.split('?')[0]} is not an image (not PNG, JPEG, GIF or "
            "WebP); nothing was saved"
        )
    return response.content


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CLIError(f"{what} must look like NAME=VALUE, got {item!r}")
        out[name] = value
    return out


def run_raw(args: argparse.Namespace) -> int:
    target = {"url": args.path} if "://" in args.path else {"path": args.path}
    body = read_json_arg(args.json, "--json") if args.json is not None else None
    reply = client_for(args).raw_sync(
        method=args.method,
        json=body,
        params=_pairs(args.param, "--param") or None,
        headers=_pairs(args.header, "--header") or None,
        **target,
    )
    if reply is None:
        return 0
    say(reply if isinstance(reply, str) else json.dumps(reply, indent=2, ensure_ascii=False))
    return 0
