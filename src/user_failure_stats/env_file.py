"""Reading a ``.env`` file or pipe: bounded in size and time, every line readable."""

from __future__ import annotations

import io
from pathlib import Path

from user_failure_stats.errors import ConfigError
from user_failure_stats.files import read_within

MAX_ENV_FILE_BYTES = 1024 * 1024
ENV_FILE_WAIT_SECONDS = 10.0  # a pipe (<(...)) must end within it


def read_env_file(path: Path) -> dict[str, str]:
    """Read a ``.env`` file or pipe, bounded in size and time; ConfigError if it cannot be."""
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    try:
        text = read_within(path, MAX_ENV_FILE_BYTES, ENV_FILE_WAIT_SECONDS).decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read {path}: it is not UTF-8 text") from None
    except ValueError:
        raise ConfigError(
            f"env file {path} is larger than {MAX_ENV_FILE_BYTES // 1024} KiB: it should "
            "hold a few settings"
        ) from None
    except TimeoutError:
        raise ConfigError(
            f"env file {path} did not finish within {ENV_FILE_WAIT_SECONDS:g} s: is it a pipe "
            "whose writer is stuck?"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.__class__.__name__}") from None
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:  # python-dotenv would skip it with a warning of its own
            raise ConfigError(
                f"env file {path}: line {binding.original.line} is not KEY=value (an unclosed "
                "quote?); nothing of it is used"
            )
    return {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}
