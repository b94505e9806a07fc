"""Where a local model comes from and why it would not load: Hub id or folder, the safetensors-only and
no-custom-code checks, the cache-first Hub lookup, the failure messages the user sees, and the lazy, locked import of
torch and transformers. The pool that loads each model once, and generation, are modelmatch.chat.local_backend.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

# A fast "is the Hub reachable at all" probe before trying to download: without it an offline machine spends close to
# a minute in DNS retries before transformers gives up, and the column looks frozen.
HUB_PROBE_TIMEOUT_S = 3.0

HOW_TO_CONFIGURE = ("configure an endpoint in endpoints.toml (see endpoints.example.toml) or run on a machine that is "
                    "online")
# A Hugging Face repo id: "name" or "owner/name" (letters, digits, - _ .). Anything else is treated as a folder path.
_HUB_ID_RE = re.compile(r"^(?:[A-Za-z0-9][\w.-]{0,95}/)?[A-Za-z0-9][\w.-]{0,95}$")
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


class LocalModelError(Exception):
    """A local model cannot be used; the message is meant for the user and says how to fix it."""


def source_of(ref: str) -> tuple[str, str]:
    """("folder", absolute path) or ("hub", repo id). A ref that is neither an existing folder nor a valid repo id
    is a folder that is missing, and says so, instead of being sent to the Hub as a malformed id."""
    ref = ref.strip()
    path = Path(ref).expanduser()
    if path.is_dir():
        return "folder", str(path.resolve())
    if (_HUB_ID_RE.match(ref) and not ref.startswith(".") and ".." not in ref
            and not ref.startswith(("/", "~")) and "\\" not in ref):
        return "hub", ref
    raise LocalModelError(f"cannot load {ref}: there is no such folder on this machine, and it is not a Hugging Face "
                          "repo id (owner/name); fix the 'model' field of this endpoint in endpoints.toml")


def check_folder(ref: str, folder: Path) -> None:
    """Refuse folders that could only be loaded by unpickling, before transformers looks at them."""
    if not (folder / "config.json").is_file():
        raise LocalModelError(f"cannot load {ref}: the folder has no config.json, so it is not a Hugging Face model "
                              "folder; point the endpoint at the folder that save_pretrained() wrote")
    if any(folder.glob("*.safetensors")) or any(folder.glob("*.safetensors.index.json")):
        return
    pickles = sorted(p.name for p in folder.iterdir() if p.name.endswith(_PICKLE_SUFFIXES))
    if pickles:
        raise LocalModelError(pickle_only_message(ref, ", ".join(pickles[:3])))
    raise LocalModelError(f"cannot load {ref}: the folder has no *.safetensors weights; ModelMatch loads safetensors "
                          "only. Save the model with save_pretrained() (safetensors is its default) into this folder")


def pickle_only_message(ref: str, files: str = "pytorch_model.bin") -> str:
    return (f"cannot load {ref}: it has only PyTorch pickle weights ({files}) and ModelMatch loads safetensors only, "
            "because loading a pickle can run code hidden in it. Use a release that ships *.safetensors, or convert "
            "the weights on a trusted machine (load them and call save_pretrained(), which writes safetensors)")


def _custom_code_message(ref: str) -> str:
    return (f"cannot load {ref}: the model needs its own Python code (auto_map / trust_remote_code), and ModelMatch "
            "never runs code shipped with a model (trust_remote_code=False). Use a model whose architecture "
            "transformers supports natively, or serve it with vLLM/SGLang and add an 'openai' endpoint")


def _not_cached_message(ref: str) -> str:
    return (f"cannot load {ref}: the weights are not in the local Hugging Face cache and this machine cannot "
            f"download them; {HOW_TO_CONFIGURE}")


def _hub_reachable() -> bool:
    """Whether a TCP connection to the Hub endpoint opens quickly. Behind a proxy the probe says yes and lets the
    real download decide, since the direct connection would be the wrong test there."""
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    from huggingface_hub import constants

    parsed = urlparse(constants.ENDPOINT)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=HUB_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def from_pretrained(loader: Any, source: str, location: str, **kwargs: Any) -> Any:
    """loader.from_pretrained, cache first for Hub ids: a cached model loads with no network call at all, and only
    a miss goes to the network (where the Hub can be reached)."""
    if source == "folder":
        return loader.from_pretrained(location, **kwargs)
    try:
        return loader.from_pretrained(location, local_files_only=True, **kwargs)
    except OSError as exc:
        if _hub_offline() or not _hub_reachable():
            if _is_custom_code_error(exc) or "safetensors" in str(exc):
                raise
            raise LocalModelError(_not_cached_message(location)) from exc
    return loader.from_pretrained(location, **kwargs)


def _exception_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _is_custom_code_error(exc: BaseException) -> bool:
    return any("trust_remote_code" in str(e) for e in _exception_chain(exc))


def explain_load_failure(ref: str, exc: BaseException) -> str:
    from huggingface_hub import errors as hub_errors

    chain = _exception_chain(exc)
    if any(isinstance(e, hub_errors.GatedRepoError) for e in chain):
        return (f"cannot load {ref}: the repo is gated on the Hugging Face Hub; accept its license on the model page "
                "and set HF_TOKEN for the app's process, or use another endpoint")
    if any(isinstance(e, hub_errors.RepositoryNotFoundError) for e in chain):
        return (f"cannot load {ref}: there is no such model on the Hugging Face Hub (or it is private and this "
                "machine has no token for it); fix the 'model' field of this endpoint in endpoints.toml")
    if _is_custom_code_error(exc):
        return _custom_code_message(ref)
    offline_errors = tuple(getattr(hub_errors, name) for name in ("LocalEntryNotFoundError", "OfflineModeIsEnabled")
                           if hasattr(hub_errors, name))
    if any(isinstance(e, offline_errors) for e in chain):
        return _not_cached_message(ref)
    text = str(exc)
    if "safetensors" in text:
        return pickle_only_message(ref) if "does not appear to have" in text or "no file named" in text else (
            f"cannot load {ref}: {text}")
    if "does not recognize this architecture" in text or "Unrecognized configuration class" in text \
            or "model type" in text:
        return (f"cannot load {ref}: this version of transformers does not know the model's architecture "
                f"({type(exc).__name__}: {text.splitlines()[0] if text else ''}); upgrade transformers or use an "
                "'openai' endpoint that serves it")
    first_line = text.splitlines()[0] if text else ""
    return f"cannot load {ref}: {type(exc).__name__}: {first_line}"


# How to add the local-model stack to a lean server install (see README "Installing").
LOCAL_EXTRA_HINT = ("install the local-model extra: pip install torch==2.13.0 'modelmatch[local]' (or, in a checkout, "
                    "pip install -r requirements.lock && pip install torch==2.13.0)")
LOCAL_PACKAGES = ("torch", "transformers", "tokenizers", "safetensors")


@functools.cache  # asked on every Playground script run; the installation does not change while the server runs
def missing_local_packages() -> tuple[str, ...]:
    """The local-model packages this installation lacks, found without importing them (torch takes seconds)."""
    import importlib.util

    def missing(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is None
        except (ImportError, ValueError):  # a broken or blocked install is as good as none
            return True

    return tuple(name for name in LOCAL_PACKAGES if missing(name))


# transformers imports its submodules lazily; two threads importing it at once (two local columns on the first
# prompt after a start) make one of them fail with "cannot import name 'AutoConfig'" although it is installed. The
# first import therefore happens under one lock.
_IMPORT_LOCK = threading.Lock()


def import_backend() -> tuple[Any, Any]:
    """(torch, transformers), imported once under a lock. LocalModelError says plainly what is wrong: a package
    that is not installed, or one that failed to import (its type only: no server path reaches the page)."""
    with _IMPORT_LOCK:
        try:
            import torch
            import transformers
            from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer  # noqa: F401 - resolved here
        except ModuleNotFoundError as exc:
            if exc.name in ("torch", "transformers"):
                raise LocalModelError(f"the local backend needs {exc.name}, which is not installed on this server: "
                                      f"{LOCAL_EXTRA_HINT}") from exc
            raise LocalModelError(f"torch/transformers failed to import: a module they need ({exc.name}) is "
                                  "missing") from exc
        except ImportError as exc:
            raise LocalModelError("torch/transformers are installed but failed to import (ImportError); see the "
                                  "server log") from exc
    return torch, transformers
