"""``curvsym discrete``: a rule's step map against its flow over a sweep of step sizes.

    curvsym discrete --widths 3,3,3 --rule gd --eta 1e-2,5e-3,2.5e-3

prints ‖θ_k − θ(kη)‖ at common times for every η, the fitted order in η at every time and
of the largest distance, and the Elkabetz–Cohen envelope along the flow with the ratio
distance/envelope (:func:`curvsym.verify.discrete.gap_study`); ``--json FILE`` writes the
same for scripts.  The CLI only parses arguments, calls the library and prints.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

__all__ = ["add_parser", "cmd_discrete", "format_study"]


def _fmt(x: float | None, spec: str = ".3e") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return format(x, spec)


def format_study(study: Any, rows: int = 10) -> str:
    """The distance table, fitted orders and envelope of a :class:`~curvsym.verify.discrete.GapStudy` as text."""
    times = list(study.times)
    picks = sorted({round(j * (len(times) - 1) / max(rows, 1)) for j in range(rows + 1)} - {0})
    etas = [r.eta for r in study.runs]
    head = ["t"] + [f"η={e:g}" for e in etas] + ["order"]
    if study.curvature is not None:
        head += ["λ_min", "∫|λ−|"]
        integral = study.curvature.negative_integral()
    body = []
    for j in picks:
        row = [f"{times[j]:.6g}"]
        for r in study.runs:
            row.append(_fmt(r.distance[j]) if j < len(r.distance) else "diverged")
        o = study.orders[j]
        row.append(_fmt(None if o is None else o.slope, ".3f"))
        if study.curvature is not None:
            row += [_fmt(study.curvature.lam_min[j], ".4g"), _fmt(float(integral[j]), ".4g")]
        body.append(row)
    out = [f"‖θ_k − θ(kη)‖ (iterates against the flow at the same times t = kη; reference: {study.reference})",
           _table(head, body)]
    om = study.order_max
    out.append(f"\nfitted order of max_t ‖θ_k − θ(kη)‖: {_fmt(None if om is None else om.slope, '.3f')}"
               + ("" if om is None else f"  (constant {math.exp(om.intercept):.3g}, rms {om.rms:.1e})"))
    if study.curvature is not None:
        head = ["t"] + [f"E(η={e:g})" for e in etas] + [f"d/E(η={e:g})" for e in etas]
        body = []
        for j in picks:
            row = [f"{times[j]:.6g}"]
            row += [_fmt(r.envelope[j]) if j < len(r.distance) else "—" for r in study.runs]
            row += [_fmt(r.distance[j] / r.envelope[j], ".4g") if j < len(r.distance) and r.envelope[j] > 0 else "—"
                    for r in study.runs]
            body.append(row)
        out.append("\nElkabetz–Cohen envelope E(t) = (η/2)∫₀ᵗ exp(∫ₛᵗ|λ−|) ‖f′f‖ ds along the flow "
                   f"(λ_min: {study.curvature.method})")
        out.append(_table(head, body))
        ratios = [r.envelope_ratio for r in study.runs]
        out.append("max_t distance/envelope: " + ", ".join(f"η={e:g}: {_fmt(x, '.4g')}" for e, x in zip(etas, ratios))
                   + f"; extrapolated to η → 0: {_fmt(study.envelope_ratio_limit(), '.4g')} "
                   "(a first-order envelope: ≤ 1 as η → 0)")
    for r in study.runs:
        if r.divergence is not None:
            out.append(f"diverged: {r.divergence}")
    for n in study.notes:
        if not n.startswith("diverged"):
            out.append(f"note: {n}")
    return "\n".join(out)


def _table(head: list, body: list) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(head), line("-" * w for w in widths)] + [line(b) for b in body])


def cmd_discrete(args: Any) -> int:
    """Run ``curvsym discrete`` (η checked before anything is derived).

    Raises:
        OptionError: a bad η, rule option, time or precision.
    """
    import numpy as np

    from ..errors import OptionError
    from ..integrate.discrete import step_sizes
    from ..symbolic import derive, network, rules
    from ..verify.discrete import gap_study
    parts = [p.strip() for p in args.eta.split(",") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise OptionError(f"--eta must be comma-separated numbers, got {args.eta!r}") from None
    etas = [float(e) for e in step_sizes(values)]
    if not (math.isfinite(args.t_end) and args.t_end > 0):
        raise OptionError(f"--t-end must be a finite positive time, got {args.t_end!r}")
    m = derive.model(network.chain(args.widths), whitened=args.whitened)
    if args.rule_file:
        rule = rules.load_rule_file(args.rule_file)
    else:
        options = {}
        if args.q is not None:
            options["q"] = args.q
        if args.damping is not None:
            options["damping"] = args.damping
        if args.strict:
            options["strict"] = True
        rule = rules.get_rule(args.rule, **options)
    flow = rule.flow(m)
    from ..data.problems import conditioned_instance, random_instance
    if args.init == "conditioned":
        inst = conditioned_instance(m.network, seed=args.seed, whitened=args.whitened)
    else:
        inst = random_instance(m.network, seed=args.seed, scale=args.scale, whitened=args.whitened)
    dps = None if args.double else args.dps
    study = gap_study(flow, inst.weights, inst.data(args.whitened), etas, args.t_end, dps=dps,
                      iterates=args.iterates, curvature=not args.no_envelope and "auto",
                      max_points=args.points)
    start = f"scale {args.scale:g}" if args.init == "random" else "orthogonal layers"
    print(f"% {rule.name} on {m.network.describe()}; {args.init} start (seed {args.seed}, {start}), "
          f"t ∈ [0, {args.t_end:g}], {len(study.times) - 1} output intervals; iterates: "
          + ("float64, one batched run" if args.iterates == "double" else f"{dps} digits"))
    print(format_study(study, rows=args.rows))
    if args.json:
        out = study.as_dict()
        out.update({"widths": args.widths, "rule_key": getattr(rule, "key", "custom"), "seed": args.seed,
                    "scale": args.scale, "t_end": args.t_end, "dps": dps, "iterates": args.iterates,
                    "weights0": [np.asarray(w).tolist() for w in inst.weights]})
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1, default=str)
        print(f"\nJSON written to {args.json}")
    return 0


def _widths(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"widths must be comma-separated integers, got {text!r}") from None


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``curvsym discrete`` on the CLI's subparsers."""
    p = subparsers.add_parser("discrete", help="a rule's step map against its flow: distances, fitted orders in η, "
                                               "the Elkabetz–Cohen envelope")
    p.add_argument("--widths", type=_widths, default=[3, 3, 3], help="layer widths n_0,…,n_N (default 3,3,3)")
    p.add_argument("--rule", default="gd", help="rule key (curvsym rules lists them; default gd)")
    p.add_argument("--rule-file", metavar="FILE", help="a user rule file instead of --rule")
    p.add_argument("--q", type=float, default=None, help="correction exponent q of the rule")
    p.add_argument("--damping", type=float, default=None, help="damping λ of the rule")
    p.add_argument("--eta", default="1e-2,5e-3,2.5e-3", help="comma-separated step sizes (each finite, > 0)")
    p.add_argument("--t-end", type=float, default=1.0, help="compare on [0, T] (a whole number of every η; default 1)")
    p.add_argument("--seed", type=int, default=0, help="random start and data (default 0)")
    p.add_argument("--scale", type=float, default=0.5, help="initial weight scale (default 0.5)")
    p.add_argument("--init", default="random", choices=("random", "conditioned"),
                   help="random Gaussian layers (--scale) or orthogonal layers with a well-conditioned target "
                        "(better for curvature-corrected rules)")
    p.add_argument("--strict", action="store_true", help="strict inverses (needed for NGD's derivative, hence "
                   "its envelope and modified equations, where 𝒦 is invertible)")
    p.add_argument("--whitened", action="store_true", help="Σx = I")
    p.add_argument("--dps", type=int, default=30, help="digits of the reference flow (default 30)")
    p.add_argument("--double", action="store_true", help="reference flow by DOP853 in double precision instead")
    p.add_argument("--iterates", default="double", choices=("double", "precise"),
                   help="iterates in float64 (one batched run; default) or at --dps digits")
    p.add_argument("--points", type=int, default=400, help="at most this many output intervals (default 400)")
    p.add_argument("--rows", type=int, default=10, help="rows of the printed table (default 10)")
    p.add_argument("--no-envelope", action="store_true", help="skip λ_min and the envelope")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.set_defaults(func=cmd_discrete)
    return p
