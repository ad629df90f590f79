"""The WLASL TGCN config.ini: read it, and check it against a checkpoint's shapes."""
from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

RUNTIMES = ("eager", "onnx", "onnx-int8")  # handler.runtime: eager PyTorch, ONNX Runtime fp32 or int8


class ConfigError(ValueError):
    """A config.ini that is missing, incomplete or malformed."""


@dataclass(frozen=True)
class TGCNConfig:
    """The `[TRAIN]`, `[OPTIMIZER]` and `[GCN]` values of a WLASL TGCN config.ini."""

    batch_size: int
    max_epochs: int
    log_interval: int
    num_samples: int
    drop_p: float
    init_lr: float
    adam_eps: float
    adam_weight_decay: float
    hidden_size: int
    num_stages: int

    @property
    def input_feature(self) -> int:
        """Features per point: x and y for each of the `num_samples` frames of a window."""
        return 2 * self.num_samples


_FIELDS = {
    "batch_size": ("TRAIN", "BATCH_SIZE", int),
    "max_epochs": ("TRAIN", "MAX_EPOCHS", int),
    "log_interval": ("TRAIN", "LOG_INTERVAL", int),
    "num_samples": ("TRAIN", "NUM_SAMPLES", int),
    "drop_p": ("TRAIN", "DROP_P", float),
    "init_lr": ("OPTIMIZER", "INIT_LR", float),
    "adam_eps": ("OPTIMIZER", "ADAM_EPS", float),
    "adam_weight_decay": ("OPTIMIZER", "ADAM_WEIGHT_DECAY", float),
    "hidden_size": ("GCN", "HIDDEN_SIZE", int),
    "num_stages": ("GCN", "NUM_STAGES", int),
}


def read_config(path: str | Path) -> TGCNConfig:
    """Parse a WLASL TGCN config.ini; every key is required."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config.ini not found")
    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise ConfigError(f"{path}: not a valid ini file: {exc}") from exc
    values = {}
    for field, (section, key, cast) in _FIELDS.items():
        try:
            values[field] = cast(parser[section][key])
        except KeyError:
            raise ConfigError(f"{path}: missing [{section}] {key}") from None
        except ValueError:
            raise ConfigError(f"{path}: [{section}] {key} = {parser[section][key]!r} is not a valid {cast.__name__}") from None
    config = TGCNConfig(**values)
    if config.num_samples < 1 or config.hidden_size < 1 or config.num_stages < 0:
        raise ConfigError(f"{path}: NUM_SAMPLES, HIDDEN_SIZE must be positive and NUM_STAGES non-negative")
    return config
