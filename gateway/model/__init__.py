"""Find, or fetch once and verify, the Vosk model the gateway recognises speech with.

Two ways in:

* the operator names a model directory (``--model PATH`` or ``VOSK_MODEL``; the caller
  decides which wins). We only check that it looks like a Vosk model: operators bring
  their own (bigger, other-language) models and we cannot know their sums.
* nothing is named: the default model is downloaded from its official source into a
  per-user cache, once, and every file is checked against sha256 sums embedded here.
  The sums are the trust anchor, not the transport: whatever mirror or proxy served the
  bytes, a model that does not match them is never used.

This is blocking code: it runs once at startup, before the event loop, or in a thread.

Modules, one concept each: :mod:`.spec` (what to fetch and its sums), :mod:`.verify`
(is a directory a model), :mod:`.cache` (where models live, markers, cleanup),
:mod:`.download` (HTTP with timeouts), :mod:`.progress` (the stderr bar),
:mod:`.archive` (safe unzip), :mod:`.install` (crash-safe staging and rename),
:mod:`.resolve` (the entry point), :mod:`.errors` (the operator-facing error).
"""

from .cache import default_cache_dir
from .download import ProgressCallback
from .errors import ModelUnavailableError
from .resolve import resolve_model
from .spec import DEFAULT_MODEL, ModelSpec
from .verify import looks_like_vosk_model, verify_model_dir

__all__ = [
    "DEFAULT_MODEL",
    "ModelSpec",
    "ModelUnavailableError",
    "ProgressCallback",
    "default_cache_dir",
    "looks_like_vosk_model",
    "resolve_model",
    "verify_model_dir",
]
