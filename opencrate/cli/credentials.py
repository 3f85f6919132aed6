"""Where the CLI keeps its API tokens, and which one a command sends.

``opencrate login`` stores a token per server URL in
``$XDG_CONFIG_HOME/opencrate/tokens.json`` (``~/.config/opencrate/`` when
``XDG_CONFIG_HOME`` is not set), readable by its owner only (0600, in a
0700 directory). A command sends, first found:

1. the token in the file given by ``opencrate --token-file FILE``
   (env ``OPENCRATE_TOKEN_FILE``),
2. the token in ``$OPENCRATE_TOKEN``,
3. the token stored for the server's URL by ``opencrate login``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from opencrate.errors import InvalidInput

__all__ = [
    "config_dir",
    "forget_token",
    "read_token_file",
    "store_token",
    "stored_token",
    "tokens_path",
]


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/opencrate``, else ``~/.config/opencrate``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "opencrate"


def tokens_path() -> Path:
    return config_dir() / "tokens.json"


def _key(url: str) -> str:
    return url.rstrip("/")


def _load() -> dict[str, str]:
    path = tokens_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read the stored tokens {path}: {exc}", file=str(path)) from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} is not a JSON object of tokens by URL", file=str(path))
    return {str(k): str(v) for k, v in data.items()}


def _save(tokens: dict[str, str]) -> None:
    path = tokens_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Made 0600 before the secret is written, so it is never readable by others.
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(tokens, out, indent=2, sort_keys=True)
    os.chmod(path.with_suffix(".tmp"), 0o600)
    os.replace(path.with_suffix(".tmp"), path)


def stored_token(url: str) -> str | None:
    """The token ``opencrate login`` stored for ``url``, if any."""
    return _load().get(_key(url))


def store_token(url: str, token: str) -> Path:
    """Remember ``token`` for ``url`` (replacing one stored before); returns the file."""
    tokens = _load()
    tokens[_key(url)] = token
    _save(tokens)
    return tokens_path()


def forget_token(url: str) -> str | None:
    """Remove and return the token stored for ``url`` (None when there was none)."""
    tokens = _load()
    token = tokens.pop(_key(url), None)
    if token is not None:
        _save(tokens)
    return token


def read_token_file(path: Path) -> str:
    """The token in ``path`` (its first line); InvalidInput naming the file otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read token file {path}: {exc}", file=str(path)) from None
    token = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not token:
        raise InvalidInput(f"token file {path} is empty", file=str(path))
    return token
