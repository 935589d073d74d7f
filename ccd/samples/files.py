"""Reading the shipped samples (from the installed package, else the source checkout) and
writing them out under a directory (``ccd init``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from ccd.errors import CcdError, UsageError
from ccd.samples.catalog import InitPlan, Sample, plan_init

# A source checkout (editable install, tests) has the files at their own paths; a wheel
# carries them under the package (pyproject.toml, force-include).
_CHECKOUT = Path(__file__).resolve().parents[2]


def sample_source(sample: Sample) -> Traversable:
    shipped = files("ccd").joinpath("_samples", *sample.source.split("/"))
    if shipped.is_file():
        return shipped
    checkout = _CHECKOUT / sample.source
    if (_CHECKOUT / "pyproject.toml").is_file() and checkout.is_file():
        return checkout
    raise CcdError(f"sample {sample.source} is missing from this installation (reinstall ccd)")


def sample_bytes(sample: Sample) -> bytes:
    return sample_source(sample).read_bytes()


def init_directory(directory: Path, samples: Sequence[Sample], *, force: bool) -> InitPlan:
    """Write every sample under ``directory`` (created if missing), or nothing at all when
    one would be overwritten without ``force`` (UsageError naming them)."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a directory")
    existing = {s.target for s in samples if (directory / s.target).exists()}
    plan = plan_init(samples, existing, force=force)
    if plan.refused:
        names = ", ".join(str(directory / s.target) for s in plan.refused)
        raise UsageError(
            f"refusing to overwrite {len(plan.refused)} existing file(s): {names} "
            "(nothing was written; --force overwrites them)"
        )
    # Every source is read first: a broken installation writes nothing.
    contents = [(sample, sample_bytes(sample)) for sample in plan.writes]
    for sample, data in contents:
        _write(directory / sample.target, data, sample.mode)
    return plan


def _write(path: Path, data: bytes, mode: int) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside with its final mode, then renamed: a secrets file is never
        # readable by others, not even for a moment, and no half-written file is left.
        partial = path.with_name(f".{path.name}.ccd-init")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(partial, mode)  # O_CREAT's mode is masked by the umask
        partial.replace(path)
    except OSError as exc:
        raise CcdError(f"cannot write {path}: {exc.strerror or exc}") from None
