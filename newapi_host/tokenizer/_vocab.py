"""Offline tiktoken encodings built from the vocabularies vendored in ``data/``.

``tiktoken.get_encoding`` downloads its vocab files on first use, which a self-hosted gateway
must not depend on (air-gapped hosts, no egress, no writable temp cache). So the two
vocabularies the gateway needs ship inside the package and are turned into
``tiktoken.Encoding`` objects here, lazily (the o200k vocab takes a noticeable fraction of a
second to parse, and most processes never need both) and once per process.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import threading
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # tiktoken itself is imported on first load, to keep this module cheap to import
    import tiktoken

CL100K = "cl100k_base"
O200K = "o200k_base"

_ENDOFTEXT = "<|endoftext|>"
_FIM_PREFIX = "<|fim_prefix|>"
_FIM_MIDDLE = "<|fim_middle|>"
_FIM_SUFFIX = "<|fim_suffix|>"
_ENDOFPROMPT = "<|endofprompt|>"


@dataclass(frozen=True, slots=True)
class EncodingSpec:
    """What ``tiktoken_ext.openai_public`` defines for an encoding, minus the download.

    The regexes and special tokens are copied because tiktoken only exposes them inside
    constructor functions that fetch the vocab; ``sha256`` is tiktoken's ``expected_hash`` of the
    decompressed vocab, checked on load so a damaged package fails loudly instead of miscounting.
    """

    name: str
    pat_str: str
    special_tokens: dict[str, int]
    sha256: str


SPECS: dict[str, EncodingSpec] = {
    CL100K: EncodingSpec(
        name=CL100K,
        pat_str=(
            r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
            r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
        ),
        special_tokens={
            _ENDOFTEXT: 100257,
            _FIM_PREFIX: 100258,
            _FIM_MIDDLE: 100259,
            _FIM_SUFFIX: 100260,
            _ENDOFPROMPT: 100276,
        },
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    O200K: EncodingSpec(
        name=O200K,
        pat_str="|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        special_tokens={_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}

_ENCODINGS: dict[str, tiktoken.Encoding] = {}
_LOCK = threading.Lock()


def read_vocab(name: str) -> bytes:
    """Decompressed ``<name>.tiktoken`` file (base64 token, space, rank per line), from package data."""
    path = resources.files(__package__).joinpath("data", f"{name}.tiktoken.gz")
    return gzip.decompress(path.read_bytes())


def _mergeable_ranks(spec: EncodingSpec) -> dict[bytes, int]:
    """Parse the vocab the way ``tiktoken.load.load_tiktoken_bpe`` does, after checking its hash."""
    raw = read_vocab(spec.name)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != spec.sha256:
        raise RuntimeError(f"vendored {spec.name} vocab is corrupt: sha256 {digest}, expected {spec.sha256}")
    return {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in raw.splitlines() if line)}


def get_encoding(name: str) -> tiktoken.Encoding:
    """The named encoding, built on first use and cached; concurrent first callers build it once."""
    enc = _ENCODINGS.get(name)
    if enc is not None:
        return enc
    spec = SPECS[name]
    with _LOCK:
        enc = _ENCODINGS.get(name)
        if enc is None:
            import tiktoken

            enc = tiktoken.Encoding(
                name=spec.name,
                pat_str=spec.pat_str,
                mergeable_ranks=_mergeable_ranks(spec),
                special_tokens=dict(spec.special_tokens),
            )
            _ENCODINGS[name] = enc
    return enc


def clear_cache() -> None:
    """Forget the built encodings (tests use it to force a reload)."""
    with _LOCK:
        _ENCODINGS.clear()
