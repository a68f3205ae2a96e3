"""Builders of basin.v1 optimizer configurations, sample collection rules and worker policies.

Keyword names are the proto field names of proto/basin/v1/optimizer_config.proto (and of
docs/optimizers.md). A keyword left at ``None`` stays unset in the message, so the server fills in
its documented default (for Entropy-SGD and EMCMC, the default of the chosen variant or form);
``Session.info().spec`` shows the values the server runs with. Enum-valued fields take their
name in lower case (``variant="paper"``, ``form="code"``, ``lr_convention="welling_teh"``).
"""

from __future__ import annotations

from typing import Any, Optional

from basin.v1 import optimizer_config_pb2 as cfg
from basin.v1 import optimizer_service_pb2 as pb


def _enum(enum_type: Any, prefix: str, value: Optional[str], field: str) -> int:
    """The value of ``PREFIX_VALUE`` in a proto enum; 0 (unspecified) for None."""
    if value is None:
        return 0
    try:
        return enum_type.Value(f"{prefix}_{value.upper()}")
    except ValueError:
        names = [n[len(prefix) + 1 :].lower() for n in enum_type.keys() if not n.endswith("UNSPECIFIED")]
        raise ValueError(f"{field} must be one of {names}, got {value!r}") from None


def _fill(message: Any, **fields: Any) -> Any:
    """Sets every field whose value is not None."""
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, cfg.Schedule):
            getattr(message, name).CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


def Schedule(
    kind: str = "constant",
    *,
    step_size: Optional[int] = None,
    factor: Optional[float] = None,
    total: Optional[float] = None,
    cycles: Optional[int] = None,
    final_value: Optional[float] = None,
    offset: Optional[float] = None,
    power: Optional[float] = None,
) -> cfg.Schedule:
    """A rate schedule: ``kind`` is constant | step | cosine | cyclical_cosine | polynomial."""
    return _fill(
        cfg.Schedule(kind=_enum(cfg.Schedule.Kind, "KIND", kind, "schedule kind")),
        step_size=step_size, factor=factor, total=total, cycles=cycles,
        final_value=final_value, offset=offset, power=power,
    )  # fmt: skip


def SGD(
    lr: Optional[float] = None,
    momentum: Optional[float] = None,
    dampening: Optional[float] = None,
    nesterov: Optional[bool] = None,
    weight_decay: Optional[float] = None,
    *,
    lr_schedule: Optional[cfg.Schedule] = None,
) -> cfg.OptimizerConfig:
    """torch.optim.SGD (one tick per step)."""
    sgd = _fill(cfg.SgdConfig(), lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                weight_decay=weight_decay, lr_schedule=lr_schedule)  # fmt: skip
    return cfg.OptimizerConfig(sgd=sgd)


def SGLD(
    lr: Optional[float] = None,
    temperature: Optional[float] = None,
    num_data: Optional[float] = None,
    weight_decay: Optional[float] = None,
    *,
    lr_convention: Optional[str] = None,
    lr_schedule: Optional[cfg.Schedule] = None,
) -> cfg.OptimizerConfig:
    """SGLD, temperature form (``lr_convention``: alpha | welling_teh)."""
    sgld = _fill(
        cfg.SgldConfig(lr_convention=_enum(cfg.SgldConfig.LrConvention, "LR_CONVENTION", lr_convention,
                                           "lr_convention")),
        lr=lr, temperature=temperature, num_data=num_data, weight_decay=weight_decay, lr_schedule=lr_schedule,
    )  # fmt: skip
    return cfg.OptimizerConfig(sgld=sgld)


def SAM(
    lr: Optional[float] = None,
    rho: Optional[float] = None,
    momentum: Optional[float] = None,
    dampening: Optional[float] = None,
    nesterov: Optional[bool] = None,
    weight_decay: Optional[float] = None,
    *,
    adaptive: Optional[bool] = None,
    eps: Optional[float] = None,
    lr_schedule: Optional[cfg.Schedule] = None,
) -> cfg.OptimizerConfig:
    """SAM / ASAM (``adaptive=True``) on the SGD rule: two ticks per step on the same minibatch."""
    sam = _fill(cfg.SamConfig(), lr=lr, rho=rho, momentum=momentum, dampening=dampening, nesterov=nesterov,
                weight_decay=weight_decay, adaptive=adaptive, eps=eps, lr_schedule=lr_schedule)  # fmt: skip
    return cfg.OptimizerConfig(sam=sam)


def EntropySGD(
    lr: Optional[float] = None,
    *,
    variant: Optional[str] = None,
    L: Optional[int] = None,
    gamma: Optional[float] = None,
    scoping: Optional[float] = None,
    inner_lr: Optional[float] = None,
    noise: Optional[float] = None,
    noise_scaling: Optional[str] = None,
    ema: Optional[float] = None,
    momentum: Optional[float] = None,
    nesterov: Optional[bool] = None,
    weight_decay: Optional[float] = None,
    extra_tick_at_x: Optional[bool] = None,
    lr_schedule: Optional[cfg.Schedule] = None,
) -> cfg.OptimizerConfig:
    """Entropy-SGD (``variant``: lua | paper | pytorch; ``noise_scaling``: code | paper)."""
    e = cfg.EntropySgdConfig(
        variant=_enum(cfg.EntropySgdConfig.Variant, "VARIANT", variant, "variant"),
        noise_scaling=_enum(cfg.EntropySgdConfig.NoiseScaling, "NOISE_SCALING", noise_scaling, "noise_scaling"),
    )
    _fill(e, lr=lr, L=L, gamma=gamma, scoping=scoping, inner_lr=inner_lr, noise=noise, ema=ema,
          momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, extra_tick_at_x=extra_tick_at_x,
          lr_schedule=lr_schedule)  # fmt: skip
    return cfg.OptimizerConfig(entropy_sgd=e)


def EMCMC(
    lr: Optional[float] = None,
    *,
    form: Optional[str] = None,
    eta: Optional[float] = None,
    temperature: Optional[float] = None,
    num_data: Optional[float] = None,
    weight_decay: Optional[float] = None,
    anchor_weight_decay: Optional[bool] = None,
    momentum: Optional[float] = None,
    lr_schedule: Optional[cfg.Schedule] = None,
) -> cfg.OptimizerConfig:
    """Entropy-MCMC (``form``: code | paper); one tick per step, the anchor needs no gradient."""
    e = cfg.EmcmcConfig(form=_enum(cfg.EmcmcConfig.Form, "FORM", form, "form"))
    _fill(e, lr=lr, eta=eta, temperature=temperature, num_data=num_data, weight_decay=weight_decay,
          anchor_weight_decay=anchor_weight_decay, momentum=momentum, lr_schedule=lr_schedule)  # fmt: skip
    return cfg.OptimizerConfig(emcmc=e)


def Samples(
    which: str = "model",
    *,
    burn_in: Optional[int] = None,
    thin: Optional[int] = None,
    cycle_length: Optional[int] = None,
    cycle_window: Optional[int] = None,
    max_samples: Optional[int] = None,
) -> cfg.SampleCollection:
    """Which outer steps keep a sample (``which``: none | model | anchor | both)."""
    return _fill(
        cfg.SampleCollection(which=_enum(cfg.SampleCollection.Which, "WHICH", which, "samples.which")),
        burn_in=burn_in, thin=thin, cycle_length=cycle_length, cycle_window=cycle_window,
        max_samples=max_samples,
    )  # fmt: skip


def Workers(num_workers: int = 1, mode: str = "sync", quorum: int = 0, max_staleness: int = 0) -> pb.WorkerPolicy:
    """How many workers feed a session (``mode``: sync | async; quorum 0 means all)."""
    return pb.WorkerPolicy(
        num_workers=num_workers,
        mode=_enum(pb.WorkerPolicy.Mode, "MODE", mode, "workers.mode"),
        quorum=quorum,
        max_staleness=max_staleness,
    )
