"""Which samples ``ccd init DIR`` writes, from which file of the source tree, to which
path under DIR. The wheel carries each source file as ``ccd/_samples/<source>``
(``[tool.hatch.build.targets.wheel.force-include]`` in pyproject.toml): one copy, the
repository's own."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    source: str  # path in the source tree, from the repository root
    target: str  # path written under DIR
    what: str
    private: bool = False  # holds (placeholders for) secrets: written mode 0600

    @property
    def mode(self) -> int:
        return 0o600 if self.private else 0o644


SAMPLES: tuple[Sample, ...] = (
    Sample("config/ccd.toml", "ccd.toml", "ccd's configuration, every key with its default"),
    Sample("config/ivr/main.toml", "ivr/main.toml", "IVR flow `main` (the ivr.flows_dir)"),
    Sample("config/ivr/csat.toml", "ivr/csat.toml", "IVR flow `csat`, the post-call survey"),
    Sample(
        "config/acd-seed.toml", "acd-seed.toml", "ACD pause reasons, queues, agents (`ccd seed`)"
    ),
    Sample(
        "dialplan/extensions_ccd.conf",
        "asterisk/extensions_ccd.conf",
        "ccd's dialplan: #include it from /etc/asterisk/extensions.conf",
    ),
    Sample(
        "deploy/manager.conf",
        "asterisk/manager.conf",
        "least-privilege AMI user for ccd: merge into /etc/asterisk/manager.conf",
    ),
    Sample(
        "deploy/ccd.service",
        "systemd/ccd.service",
        "systemd unit: copy to /etc/systemd/system/",
    ),
    Sample("deploy/ccd.env", "ccd.env", "secrets file for the unit (EnvironmentFile)", True),
)


@dataclass(frozen=True)
class InitPlan:
    """What ``ccd init`` does: write every sample, or refuse because some would be
    overwritten (their targets listed) without ``--force``."""

    writes: tuple[Sample, ...]
    overwrites: tuple[Sample, ...]  # among writes: targets that exist
    refused: tuple[Sample, ...]  # targets that exist, without --force: nothing is written


def plan_init(
    samples: Sequence[Sample], existing_targets: Collection[str], *, force: bool
) -> InitPlan:
    present = tuple(sample for sample in samples if sample.target in existing_targets)
    if present and not force:
        return InitPlan(writes=(), overwrites=(), refused=present)
    return InitPlan(writes=tuple(samples), overwrites=present, refused=())
