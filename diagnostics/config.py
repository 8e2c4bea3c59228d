"""Verdict thresholds: one TOML file of documented defaults, overridable per team.

The defaults are ``diagnostics/default_config.toml`` (each key commented there). A team's file
may set any subset of the same keys; unknown sections or keys, and values of the wrong type, are
errors so that a typo never silently falls back to a default.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from diagnostics._validation import InputError, display_path
from diagnostics.metrics import check_metric

__all__ = ["Config", "load_config", "DEFAULT_CONFIG_PATH"]

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default_config.toml")


@dataclass(frozen=True)
class Config:
    """All thresholds, flattened as ``section_key`` (e.g. ``retrieval_alpha``)."""

    retrieval_metric: str
    retrieval_alpha: float
    retrieval_fail_relative_drop: float
    retrieval_warn_relative_drop: float
    retrieval_min_queries: int
    known_item_docs_per_domain: int
    known_item_min_docs: int
    known_item_alpha: float
    known_item_can_fail: bool
    known_item_fail_relative_drop: float
    known_item_warn_relative_drop: float
    known_item_bm25: bool
    known_item_random_state: int
    probe_pairs_per_domain: int
    probe_random_state: int
    label_free_overlap_median_warn: float
    label_free_query_jaccard_median_warn: float
    label_free_consistency_drop_warn: float
    collapse_intra_cosine_rise: float
    collapse_effective_rank_drop: float
    collapse_merge_centroid_rise: float
    collapse_merge_centroid_min: float
    statistics_confidence: float
    statistics_n_resamples: int
    statistics_n_permutations: int
    statistics_random_state: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Thresholds that are shares, so must lie in [0, 1]: (section, key).
_SHARES = (
    ("retrieval", "fail_relative_drop"), ("retrieval", "warn_relative_drop"),
    ("known_item", "fail_relative_drop"), ("known_item", "warn_relative_drop"),
    ("label_free", "overlap_median_warn"), ("label_free", "query_jaccard_median_warn"),
    ("label_free", "consistency_drop_warn"),
)


def _read(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"config file {display_path(path)} not found; pass an existing TOML file") from None
    except OSError as err:
        raise InputError(
            f"config file {display_path(path)} cannot be read ({err.strerror or type(err).__name__}); "
            "pass a readable TOML file"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"config file {display_path(path)} is not valid TOML: {err}") from None


def load_config(path: Path | str | None = None) -> Config:
    """Load the default thresholds, overridden by the TOML file at ``path`` if given.

    Raises
    ------
    InputError
        The file is missing or not TOML, or names an unknown section/key, or a value has the wrong
        type or range.
    """
    merged = _read(DEFAULT_CONFIG_PATH)
    flat: dict[str, Any] = {f"{s}_{k}": v for s, keys in merged.items() for k, v in keys.items()}
    if path is not None:
        name = display_path(path)
        for section, keys in _read(Path(path)).items():
            if section not in merged:
                raise InputError(
                    f"config file {name}: unknown section [{section}]; known: {', '.join(sorted(merged))}"
                )
            if not isinstance(keys, dict):
                raise InputError(
                    f"config file {name}: {section} must be a section [{section}] of keys, got {keys!r}; "
                    f"write it as [{section}] followed by key = value lines"
                )
            for key, value in keys.items():
                if key not in merged[section]:
                    raise InputError(
                        f"config file {name}: unknown key {key!r} in [{section}]; "
                        f"known: {', '.join(sorted(merged[section]))}"
                    )
                default = merged[section][key]
                if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                    value = float(value)
                if type(value) is not type(default):
                    raise InputError(
                        f"config file {name}: [{section}] {key} must be {type(default).__name__}, "
                        f"got {value!r}"
                    )
                flat[f"{section}_{key}"] = value
    config = Config(**flat)
    where = "config" if path is None else f"config file {display_path(path)}"
    check_metric(config.retrieval_metric, where=f"{where}: [retrieval] metric")
    if not 0 < config.retrieval_alpha < 1 or not 0 < config.statistics_confidence < 1 \
            or not 0 < config.known_item_alpha < 1:
        raise InputError(f"{where}: alpha and confidence must lie strictly between 0 and 1")
    if config.known_item_docs_per_domain < 0 or config.known_item_min_docs < 1:
        raise InputError(
            f"{where}: [known_item] docs_per_domain must be at least 0 and min_docs at least 1, got "
            f"{config.known_item_docs_per_domain} and {config.known_item_min_docs}"
        )
    if config.probe_pairs_per_domain < 0:
        raise InputError(f"{where}: [probe] pairs_per_domain must be at least 0, got {config.probe_pairs_per_domain}")
    if config.statistics_n_resamples < 1000 or config.statistics_n_permutations < 1000:
        raise InputError(f"{where}: n_resamples and n_permutations must be at least 1000")
    if config.retrieval_min_queries < 1:
        raise InputError(f"{where}: [retrieval] min_queries must be at least 1, got {config.retrieval_min_queries}")
    for section, key in _SHARES:
        value = getattr(config, f"{section}_{key}")
        if not 0.0 <= value <= 1.0:
            raise InputError(f"{where}: [{section}] {key} is a share and must lie from 0 to 1, got {value}")
    return config
